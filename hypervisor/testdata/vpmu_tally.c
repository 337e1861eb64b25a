/* vpmu_tally N [pv]: the main thread creates N threads with raw clone(2);
   thread i (0-based) makes 100*(i+1)+i getpid system calls and then
   exit(2), so it makes exactly 100*(i+1)+i+1 system calls in its life. No
   C library runs on the threads. The main thread waits for each through
   its CLONE_CHILD_CLEARTID word and prints how many threads ran.
   With pv, the main thread first opens "syscalls" through the vpmu
   paravirtual call with inherit, and at the end prints its own count and
   the count with every (exited) thread that inherited it. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vpmu_pv.h"

#define MAXT 64
#define STACK (64 * 1024)

static volatile int ctid[MAXT];
static char stacks[MAXT][STACK] __attribute__((aligned(16)));

static void __attribute__((noreturn, used)) worker(long k) {
	for (long i = 0; i < k; i++) {
		long r;
		__asm__ volatile("syscall" : "=a"(r) : "0"(SYS_getpid) : "rcx", "r11", "memory");
	}
	__asm__ volatile("syscall" : : "a"(SYS_exit), "D"(0) : "rcx", "r11", "memory");
	__builtin_unreachable();
}

/* spawn starts worker(k) on a new thread whose stack top is top. */
static long spawn(char *top, volatile int *tidword, long k) {
	long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		     CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
	register long r10 __asm__("r10") = (long)tidword;
	register long r8 __asm__("r8") = 0;
	register long r12 __asm__("r12") = k;
	register long r13 __asm__("r13") = (long)worker;
	long ret;
	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"mov %%r12, %%rdi\n\t"
		"call *%%r13\n"
		"1:"
		: "=a"(ret)
		: "0"(SYS_clone), "D"(flags), "S"(top), "d"(0), "r"(r10), "r"(r8), "r"(r12), "r"(r13)
		: "rcx", "r11", "memory");
	return ret;
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 8;
	if (n < 1 || n > MAXT)
		return 2;
	int withpv = argc > 2 && !strcmp(argv[2], "pv");
	int32_t slots[2];
	if (withpv && pv_open("syscalls", PV_OPEN_INHERIT, slots, 2) != 2)
		return 4;
	for (int i = 0; i < n; i++) {
		ctid[i] = -1;
		if (spawn(stacks[i] + STACK, &ctid[i], 100L * (i + 1) + i) < 0)
			return 3;
	}
	for (int i = 0; i < n; i++)
		while (ctid[i] != 0)
			syscall(SYS_futex, &ctid[i], FUTEX_WAIT, ctid[i], NULL, NULL, 0);
	if (withpv) {
		uint64_t own[2], all[2];
		if (pv_read(slots, 2, own, 0) || pv_read(slots, 2, all, PV_READ_INHERITED))
			return 5;
		printf("own %lu inherited %lu\n", (unsigned long)own[1], (unsigned long)all[1]);
	}
	printf("%d threads done\n", n);
	return 0;
}
