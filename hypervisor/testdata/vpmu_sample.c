/* vpmu_sample MODE ...: the guest side of the sampling tests.
 *
 * calls N          main -> outer -> inner -> leaf_syscall, N times; the
 *                  last makes a getppid system call with an inline
 *                  SYSCALL (build with -fno-omit-frame-pointer).
 * maps             print the file mappings of /proc/self/maps.
 * signal P N SIG   sample the thread's own system calls with overflow
 *                  signals (SIG, 0 for SIGPROF) every P calls, make N
 *                  getppid calls, and print the calls counted and the
 *                  signals received (docs/vpmu-abi.md, PVSetPeriod).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vpmu_pv.h"

unsigned long sink, notes;

/* note makes leaf_syscall a caller: gcc gives a function that calls
 * nothing and needs no stack no frame, even with
 * -fno-omit-frame-pointer, and a frame-pointer walk from inside it skips
 * its caller (perf shows the same). */
__attribute__((noinline)) void note(void)
{
	notes++;
}

__attribute__((noinline)) void leaf_syscall(void)
{
	note();
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "0"(SYS_getppid) : "rcx", "r11", "memory");
	sink += r;
}

__attribute__((noinline)) void inner(void)
{
	leaf_syscall();
	sink++;
}

__attribute__((noinline)) void outer(void)
{
	inner();
	sink++;
}

static volatile long delivered, overflows, bad;
static volatile int want_slot;

static void on_overflow(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != VPMU_SIGNAL_CODE || (int)((unsigned long)si->si_value.sival_ptr & 0xffffffff) != want_slot)
		bad++;
	delivered++;
	overflows += (unsigned long)si->si_value.sival_ptr >> 32;
}

static int signal_mode(long period, long n, int sig)
{
	int32_t slots[2];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_overflow;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigaction(sig ? sig : SIGPROF, &sa, NULL))
		return 3;
	/* Open disabled, set the period, then enable: the count starts at
	 * the enable, and so do the thresholds. */
	if (pv_open("syscalls", PV_OPEN_DISABLED | PV_OPEN_SIGNAL, slots, 2) != 2)
		return 4;
	want_slot = slots[1];
	if (pv(PV_SET_PERIOD, slots[1], period, sig, 0, 0))
		return 5;
	if (pv(PV_ENABLE, (long)&slots[1], 1, 0, 0, 0))
		return 6;
	for (long i = 0; i < n; i++) {
		long r;
		__asm__ volatile("syscall" : "=a"(r) : "0"(SYS_getppid) : "rcx", "r11", "memory");
	}
	uint64_t count;
	if (pv_read(&slots[1], 1, &count, 0))
		return 7;
	/* The read's own overflow, if any, was delivered as it returned. */
	long d = delivered, o = overflows, b = bad;
	printf("count %lu delivered %ld overflows %ld bad %ld\n", (unsigned long)count, d, o, b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "calls") && argc > 2) {
		long n = atol(argv[2]);
		for (long i = 0; i < n; i++)
			outer();
		printf("%lu\n", sink);
		return 0;
	}
	if (!strcmp(argv[1], "maps")) {
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512];
		if (!f)
			return 3;
		while (fgets(line, sizeof line, f))
			if (strchr(line, '/'))
				fputs(line, stdout);
		fclose(f);
		return 0;
	}
	if (!strcmp(argv[1], "signal") && argc > 4)
		return signal_mode(atol(argv[2]), atol(argv[3]), atoi(argv[4]));
	return 2;
}
