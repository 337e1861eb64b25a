/* hotsys.c: two hot functions whose system calls are 3:1 by
 * construction, for the vpmu record --vm -e syscalls end-to-end test.
 * heavy makes 3*n getppid calls and light n, each with an inline SYSCALL
 * in its own body, so that the sample of a system call is in the
 * function itself; they alternate many times. Each calls seed first, so
 * that it is not a leaf (see hot.c).
 *
 * Build: gcc -O1 -g -fno-omit-frame-pointer -fno-inline -o hotsys hotsys.c
 * Run:   hotsys ROUNDS (default 1000) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

#define N 10

unsigned long sink, seeds;

unsigned long seed(unsigned long n)
{
	seeds++;
	return n;
}

unsigned long heavy(unsigned long n) /* MARK:heavy */
{
	unsigned long x = seed(n);
	for (unsigned long i = 0; i < 3 * n; i++) {
		long r;
		__asm__ volatile("syscall" : "=a"(r) : "0"(SYS_getppid) : "rcx", "r11", "memory");
		x += r;
	}
	return x;
} /* MARK:heavy_end */

unsigned long light(unsigned long n) /* MARK:light */
{
	unsigned long x = seed(n);
	for (unsigned long i = 0; i < n; i++) {
		long r;
		__asm__ volatile("syscall" : "=a"(r) : "0"(SYS_getppid) : "rcx", "r11", "memory");
		x += r;
	}
	return x;
} /* MARK:light_end */

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	for (unsigned long r = 0; r < rounds; r++) {
		sink += heavy(N); /* MARK:call_heavy */
		sink += light(N);
	}
	printf("%lu\n", sink);
	return 0;
}
