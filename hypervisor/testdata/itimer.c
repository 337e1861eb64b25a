/* itimer: the CPU-time timers. The interval timers ITIMER_PROF and
   ITIMER_VIRTUAL count the process's CPU time (all its threads) and send
   SIGPROF and SIGVTALRM with si_code SI_KERNEL; POSIX timers on the CPU
   clocks (CLOCK_THREAD_CPUTIME_ID as Go's profiler uses it,
   CLOCK_PROCESS_CPUTIME_ID, pthread_getcpuclockid's) send SI_TIMER.
   Prints only facts that do not depend on timing: counts are checked
   against wide bounds. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int prof, vtalrm, badcode, usr1, usr1bad, usr2;
static volatile unsigned long at_usr2;
static pid_t usr1_tid;
static volatile unsigned long progress, at_vtalrm;

static void timer_handler(int sig, siginfo_t *si, void *uc);

static void handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	if (sig == SIGUSR1 || sig == SIGUSR2) {
		timer_handler(sig, si, uc);
		return;
	}
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

static void timer_handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	if (sig == SIGUSR1) {
		usr1++;
		if (si->si_code != SI_TIMER || syscall(SYS_gettid) != usr1_tid || si->si_value.sival_int != 7)
			usr1bad++;
	} else {
		usr2++;
		at_usr2 = progress;
	}
}

static double clock_secs(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
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

	/* A thread's CPU clock, as Go's profiler uses it: SIGEV_THREAD_ID to
	   itself, every 10 ms of its CPU time. */
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	usr1_tid = syscall(SYS_gettid);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = SIGUSR1;
	ev.sigev_value.sival_int = 7;
	ev._sigev_un._tid = usr1_tid;
	timer_t tt;
	printf("timer_create CLOCK_THREAD_CPUTIME_ID: %d\n", timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &tt));
	struct itimerspec ts = {{0, 10000000}, {0, 10000000}};
	printf("timer_settime: %d\n", timer_settime(tt, 0, &ts, NULL));
	double start = clock_secs(CLOCK_THREAD_CPUTIME_ID);
	while (clock_secs(CLOCK_THREAD_CPUTIME_ID) < start + 0.3)
		spin(1000000);
	timer_delete(tt);
	printf("SI_TIMER signals to the thread about every 10 ms (15-35 in 0.3 s): %d\n", usr1 >= 15 && usr1 <= 35);
	printf("each with SI_TIMER, the thread and the value: %d\n", usr1bad == 0);

	/* The process's CPU clock, one-shot, during a loop with no system
	   call. */
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGUSR2;
	timer_t pt;
	printf("timer_create CLOCK_PROCESS_CPUTIME_ID: %d\n", timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &pt));
	struct itimerspec one = {{0, 0}, {0, 20000000}};
	timer_settime(pt, 0, &one, NULL);
	spin(300000000);
	printf("SIGUSR2 once, during the loop: %d %d\n", usr2, at_usr2 > 0 && at_usr2 < 300000000);

	/* SIGEV_NONE counts down with the clock; an absolute expiry on
	   another thread's clock (pthread_getcpuclockid). */
	ev.sigev_notify = SIGEV_NONE;
	timer_t nt;
	timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &nt);
	struct itimerspec far = {{0, 0}, {10, 0}}, cur;
	timer_settime(nt, 0, &far, NULL);
	timer_gettime(nt, &cur);
	double before = cur.it_value.tv_sec + cur.it_value.tv_nsec / 1e9;
	spin(30000000);
	timer_gettime(nt, &cur);
	double after = cur.it_value.tv_sec + cur.it_value.tv_nsec / 1e9;
	printf("a SIGEV_NONE timer counts down with CPU time: %d\n", after < before && before <= 10);
	clockid_t mine, proc;
	pthread_getcpuclockid(pthread_self(), &mine);
	clock_getcpuclockid(0, &proc);
	printf("pthread_getcpuclockid reads the thread's time: %d\n",
	       clock_secs(mine) >= start + 0.3 && clock_secs(mine) <= clock_secs(CLOCK_THREAD_CPUTIME_ID));
	printf("clock_getcpuclockid reads the process's: %d\n", clock_secs(proc) >= clock_secs(mine));
	ev.sigev_notify = SIGEV_SIGNAL;
	usr2 = 0;
	timer_t at;
	printf("timer_create on pthread_getcpuclockid's clock: %d\n", timer_create(mine, &ev, &at));
	struct timespec now;
	clock_gettime(mine, &now);
	struct itimerspec abs = {{0, 0}, {now.tv_sec, now.tv_nsec}};
	abs.it_value.tv_nsec += 20000000;
	if (abs.it_value.tv_nsec >= 1000000000) {
		abs.it_value.tv_sec++;
		abs.it_value.tv_nsec -= 1000000000;
	}
	timer_settime(at, TIMER_ABSTIME, &abs, NULL);
	spin(300000000);
	printf("its absolute expiry came during the loop: %d %d\n", usr2, at_usr2 > 0 && at_usr2 < 300000000);

	struct itimerval bad = {{0, 0}, {0, 1000000}};
	printf("tv_usec of a second: %d\n", setitimer(ITIMER_PROF, &bad, NULL));
	printf("bad which: %d\n", setitimer(7, &it, NULL));
	return 0;
}
