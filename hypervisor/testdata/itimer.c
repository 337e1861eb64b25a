/* itimer: the CPU-time interval timers, ITIMER_PROF and ITIMER_VIRTUAL,
   which count the process's CPU time (all its threads) and send SIGPROF
   and SIGVTALRM with si_code SI_KERNEL. Prints only facts that do not
   depend on timing: counts are checked against wide bounds. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile int prof, vtalrm, badcode;
static volatile unsigned long progress;
static volatile unsigned long at_vtalrm;

static void handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	if (si->si_code != SI_KERNEL)
		badcode++;
	if (sig == SIGPROF)
		prof++;
	else {
		vtalrm++;
		at_vtalrm = progress;
	}
}

static double cpu(void) {
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* spin runs n rounds of arithmetic without a system call. */
static void spin(unsigned long n) {
	volatile unsigned long x = 1;
	for (progress = 0; progress < n; progress++)
		x = x * 6364136223846793005ul + 1;
}

/* burn spins until the process has used until seconds of CPU time. */
static void *burn(void *arg) {
	double until = *(double *)arg;
	while (cpu() < until)
		spin(1000000);
	return NULL;
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGPROF, &sa, NULL);
	sigaction(SIGVTALRM, &sa, NULL);

	/* ITIMER_PROF every 10 ms while two threads use 0.5 s between them. */
	struct itimerval it = {{0, 10000}, {0, 10000}}, old;
	printf("setitimer ITIMER_PROF: %d\n", setitimer(ITIMER_PROF, &it, NULL));
	double until = cpu() + 0.5;
	pthread_t t;
	pthread_create(&t, NULL, burn, &until);
	burn(&until);
	pthread_join(t, NULL);
	int n = prof;
	printf("SIGPROF about every 10 ms of CPU time (25-60 in 0.5 s): %d\n", n >= 25 && n <= 60);
	getitimer(ITIMER_PROF, &old);
	printf("getitimer: interval %ld us, value in (0, 10 ms]: %d\n", (long)old.it_interval.tv_usec,
	       old.it_value.tv_sec == 0 && old.it_value.tv_usec > 0 && old.it_value.tv_usec <= 10000);
	struct itimerval zero = {{0, 0}, {0, 0}};
	setitimer(ITIMER_PROF, &zero, &old);
	printf("disarming returns the interval: %ld us\n", (long)old.it_interval.tv_usec);
	n = prof;
	until = cpu() + 0.05;
	burn(&until);
	printf("no SIGPROF once disarmed: %d\n", prof == n);

	/* A one-shot ITIMER_VIRTUAL fires once, during a loop that makes no
	   system call (about 0.3 s natively). */
	struct itimerval once = {{0, 0}, {0, 20000}};
	printf("setitimer ITIMER_VIRTUAL: %d\n", setitimer(ITIMER_VIRTUAL, &once, NULL));
	spin(300000000);
	printf("SIGVTALRM once: %d\n", vtalrm);
	printf("it came during the loop: %d\n", at_vtalrm > 0 && at_vtalrm < 300000000);
	getitimer(ITIMER_VIRTUAL, &old);
	printf("a fired one-shot timer is disarmed: %d\n", old.it_value.tv_sec == 0 && old.it_value.tv_usec == 0);
	printf("si_code SI_KERNEL: %d\n", badcode == 0);

	struct itimerval bad = {{0, 0}, {0, 1000000}};
	printf("tv_usec of a second: %d\n", setitimer(ITIMER_PROF, &bad, NULL));
	printf("bad which: %d\n", setitimer(7, &it, NULL));
	return 0;
}
