/* bench MODE N: the guest side of the hypervisor benchmarks.
   getpid: N getpid system calls.
   yield:  two threads each calling sched_yield N/2 times.
   loop:   N iterations of a xorshift loop (compute bound).
   mprotect: N/2 rounds of writing a page, mprotect PROT_READ, reading
           it, mprotect PROT_READ|PROT_WRITE (N system calls). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long n;

static void *yielder(void *arg) {
	for (long i = 0; i < n / 2; i++)
		sched_yield();
	return arg;
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	n = atol(argv[2]);
	if (!strcmp(argv[1], "getpid")) {
		for (long i = 0; i < n; i++)
			syscall(SYS_getpid);
	} else if (!strcmp(argv[1], "yield")) {
		pthread_t t;
		pthread_create(&t, NULL, yielder, NULL);
		yielder(NULL);
		pthread_join(t, NULL);
	} else if (!strcmp(argv[1], "loop")) {
		unsigned long x = 88172645463325252UL;
		for (long i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		printf("%lu\n", x);
	} else if (!strcmp(argv[1], "mprotect")) {
		volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		long sum = 0;
		for (long i = 0; i < n / 2; i++) {
			p[0] = (char)i;
			if (mprotect((void *)p, 4096, PROT_READ))
				return 1;
			sum += p[0];
			if (mprotect((void *)p, 4096, PROT_READ | PROT_WRITE))
				return 1;
		}
		printf("%ld\n", sum);
	} else {
		return 2;
	}
	return 0;
}
