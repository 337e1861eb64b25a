/* vpmu_sleep REPS: the guest time (task-clock, in TSC ticks) a thread
   accrues across a 5 ms and an 80 ms nanosleep and across a getpid, read
   through the vpmu paravirtual call. Each line is "short A long B getpid
   C". The sequences have the same structure (read, one system call,
   read); if sleeping were counted, B would exceed A by 75 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vpmu_pv.h"

static int32_t slots[2];

static uint64_t across(long nr, long ns) {
	uint64_t a[2], b[2];
	struct timespec ts = {0, ns};
	pv_read(slots, 2, a, 0);
	syscall(nr, &ts, NULL);
	pv_read(slots, 2, b, 0);
	return b[1] - a[1];
}

int main(int argc, char **argv) {
	int reps = argc > 1 ? atoi(argv[1]) : 10;
	if (pv_open("task-clock", 0, slots, 2) != 2)
		return 2;
	for (int i = 0; i < reps; i++) {
		uint64_t s = across(SYS_nanosleep, 5000000);
		uint64_t l = across(SYS_nanosleep, 80000000);
		uint64_t g = across(SYS_getpid, 0);
		printf("short %lu long %lu getpid %lu\n", (unsigned long)s, (unsigned long)l, (unsigned long)g);
	}
	return 0;
}
