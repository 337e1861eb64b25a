/* cputime: the process's CPU time counts its threads that exited, as
   Linux's does (clock_gettime(CLOCK_PROCESS_CPUTIME_ID), getrusage
   RUSAGE_SELF, utime+stime in /proc/self/stat). A thread burns CPU,
   reads its own CPU clock and exits; the process's clocks must then
   show at least that much. Prints only facts that do not depend on
   timing. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double secs(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double burnt;

static void *burn(void *arg) {
	(void)arg;
	volatile unsigned long x = 1;
	/* 200 ms of the thread's own CPU time. */
	while (secs(CLOCK_THREAD_CPUTIME_ID) < 0.2)
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ul + 1;
	burnt = secs(CLOCK_THREAD_CPUTIME_ID);
	return NULL;
}

/* stattime reads utime + stime, the 14th and 15th fields of
   /proc/self/stat, in seconds. Linux splits the process's run time
   between the two by the ticks it sampled (cputime_adjust), so under
   load part of a computing thread's time can show as stime: only the
   sum is the run time (each field truncated to a tick). */
static double stattime(void) {
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (ut + st) / 100.0;
}

int main(void) {
	double main0 = secs(CLOCK_THREAD_CPUTIME_ID);
	pthread_t t;
	pthread_create(&t, NULL, burn, NULL);
	pthread_join(t, NULL);
	double proc = secs(CLOCK_PROCESS_CPUTIME_ID);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double rus = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("the thread burnt at least 0.2 s: %d\n", burnt >= 0.2);
	printf("main thread under 0.1 s: %d\n", secs(CLOCK_THREAD_CPUTIME_ID) - main0 < 0.1);
	printf("CLOCK_PROCESS_CPUTIME_ID counts it: %d\n", proc >= burnt);
	printf("getrusage RUSAGE_SELF counts it: %d\n", rus >= burnt - 0.001);
	printf("/proc/self/stat utime+stime counts it: %d\n", stattime() >= burnt - 0.02);
	return 0;
}
