/* vpmu_precise N: counts, in precise mode (single-stepping), the
   instructions and branches of a hand-written loop of known length, with
   the vpmu paravirtual enable and disable calls around it, and prints
   "instructions I branches B tf T" (T: the trap flag as pushf showed it
   to the program, 0 when the VMM hides its own). The counted region runs
   from the first instruction after the enable call returns up to and
   including the SYSCALL of the disable call:

     mov $N, %rcx                      1
     1: add %rcx, %rbx                 N
        dec %rcx                       N
        jnz 1b                         N    (N branches)
     pushfq; pop %rax; push %rax; popfq  4
     mov %rax, tf                      1
     call 2f; jmp 3f                   2    (2 branches)
     2: ret                            1    (1 branch)
     3: lea src, %rsi; lea dst, %rdi   2
        mov $64, %rcx; rep movsb       2    (one instruction for 64 bytes)
     disable: 4 moves and the SYSCALL  5    (1 branch)

   Total 3N+18 instructions and N+4 branches. */
#include <stdio.h>
#include <stdlib.h>

#include "vpmu_pv.h"

static char src[64] = "vpmu precise mode copies these bytes with rep movsb", dst[64];

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int32_t slots[3];
	long r = pv_open("{instructions,branches}", PV_OPEN_DISABLED | PV_OPEN_PRECISE, slots, 3);
	if (r != 3) {
		char msg[256] = {0};
		pv(PV_LASTERR, (long)msg, sizeof msg - 1, 0, 0, 0);
		printf("open: %ld: %s\n", r, msg);
		return 2;
	}
	unsigned long tf = 0, sum = 0;
	long rax;
	__asm__ volatile(
		/* enable */
		"mov %[pvnr], %%eax\n\t"
		"mov %[en], %%edi\n\t"
		"mov %[slots], %%rsi\n\t"
		"mov $3, %%edx\n\t"
		"syscall\n\t"
		/* counted */
		"mov %[n], %%rcx\n"
		"1:\n\t"
		"add %%rcx, %[sum]\n\t"
		"dec %%rcx\n\t"
		"jnz 1b\n\t"
		"pushfq\n\t"
		"pop %%rax\n\t"
		"push %%rax\n\t"
		"popfq\n\t"
		"mov %%rax, %[tf]\n\t"
		"call 2f\n\t"
		"jmp 3f\n"
		"2:\n\t"
		"ret\n"
		"3:\n\t"
		"lea %[src], %%rsi\n\t"
		"lea %[dst], %%rdi\n\t"
		"mov $64, %%rcx\n\t"
		"rep movsb\n\t"
		/* disable */
		"mov %[pvnr], %%eax\n\t"
		"mov %[dis], %%edi\n\t"
		"mov %[slots], %%rsi\n\t"
		"mov $3, %%edx\n\t"
		"syscall\n\t"
		: "=&a"(rax), [sum] "+r"(sum), [tf] "=m"(tf)
		: [pvnr] "i"(VPMU_PV), [en] "i"(PV_ENABLE), [dis] "i"(PV_DISABLE), [slots] "r"(slots), [n] "r"(n),
		  [src] "m"(src), [dst] "m"(dst)
		: "rcx", "rdx", "rsi", "rdi", "r11", "memory", "cc");
	uint64_t v[3];
	if (pv_read(slots, 3, v, 0))
		return 3;
	printf("instructions %lu branches %lu tf %lu sum %lu copied %d\n", (unsigned long)v[1], (unsigned long)v[2],
	       (tf >> 8) & 1, sum, memcmp(src, dst, 64) == 0);
	return 0;
}
