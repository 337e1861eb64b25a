/* timers MODE: POSIX timers and timerfds, printing only facts that do
   not depend on timing, so that the native and the VM run compare byte
   for byte. Modes: posix, thread-id, sigev-thread, overrun, none,
   ignored, timerfd, errors, cap (VM only: the VMM's cap on timers). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MS 1000000L

static void sleep_ns(long ns) {
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static long ts_ns(struct timespec ts) { return ts.tv_sec * 1000000000L + ts.tv_nsec; }

static int kid(timer_t t) { return (int)(intptr_t)t; }

static void block(int sig) {
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static int waitsig(int sig, siginfo_t *si) {
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	int r;
	while ((r = sigwaitinfo(&s, si)) < 0 && errno == EINTR) {
	}
	return r;
}

static timer_t make_timer(clockid_t clock, int notify, int sig, int value) {
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = value;
	timer_t t;
	if (timer_create(clock, &ev, &t) < 0) {
		printf("timer_create: %s\n", strerror(errno));
		exit(1);
	}
	return t;
}

static int arm(timer_t t, int flags, long value, long interval) {
	struct itimerspec its = {{interval / 1000000000L, interval % 1000000000L},
				 {value / 1000000000L, value % 1000000000L}};
	return timer_settime(t, flags, &its, NULL);
}

/* posix: periodic signals counted with sigwaitinfo, the default
   sigevent, absolute times, a handler. */
static volatile sig_atomic_t handled, handled_code, handled_value;
static void on_timer(int sig, siginfo_t *si, void *uc) {
	(void)sig, (void)uc;
	handled_code = si->si_code;
	handled_value = si->si_value.sival_int;
	handled++;
}

static int mode_posix(void) {
	int sig = SIGRTMIN + 1;
	block(sig);
	timer_t t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, sig, 42);
	CHECK("arm periodic", arm(t, 0, 1 * MS, 1 * MS));
	struct itimerspec cur;
	CHECK("gettime", timer_gettime(t, &cur));
	CHECK("interval ns", ts_ns(cur.it_interval));
	CHECK("value in (0, 1ms]", ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 1 * MS);
	int good = 0;
	for (int i = 0; i < 5; i++) {
		siginfo_t si;
		if (waitsig(sig, &si) == sig && si.si_code == SI_TIMER && si.si_value.sival_int == 42 &&
		    si.si_timerid == kid(t))
			good++;
	}
	CHECK("good signals of 5", good);
	struct itimerspec old;
	struct itimerspec zero = {{0, 0}, {0, 0}};
	CHECK("disarm", timer_settime(t, 0, &zero, &old));
	CHECK("old interval ns", ts_ns(old.it_interval));
	CHECK("old value in [0, 1ms]", ts_ns(old.it_value) >= 0 && ts_ns(old.it_value) <= 1 * MS);
	CHECK("gettime disarmed", timer_gettime(t, &cur));
	CHECK("disarmed value", ts_ns(cur.it_value));
	CHECK("delete", timer_delete(t));

	/* The kernel's default sigevent (glibc passes its own for NULL):
	   SIGALRM with the timer id as the value. */
	block(SIGALRM);
	int dk;
	CHECK("create default", syscall(SYS_timer_create, CLOCK_REALTIME, NULL, &dk));
	timer_t d = (timer_t)(intptr_t)dk;
	CHECK("arm one-shot", arm(d, 0, 1 * MS, 0));
	siginfo_t si;
	CHECK("SIGALRM", waitsig(SIGALRM, &si));
	CHECK("code is SI_TIMER", si.si_code == SI_TIMER);
	CHECK("value is the id", si.si_value.sival_int == kid(d));
	CHECK("overrun", si.si_overrun);
	CHECK("one-shot expired", timer_gettime(d, &cur) == 0 && ts_ns(cur.it_value) == 0);
	CHECK("getoverrun", timer_getoverrun(d));

	/* Absolute times on each clock, one in the past. */
	clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME};
	const char *names[] = {"realtime", "monotonic", "boottime"};
	for (int i = 0; i < 3; i++) {
		timer_t a = make_timer(clocks[i], SIGEV_SIGNAL, sig, i);
		struct timespec now;
		clock_gettime(clocks[i], &now);
		long at = ts_ns(now) + 2 * MS;
		struct itimerspec its = {{0, 0}, {at / 1000000000L, at % 1000000000L}};
		char what[64];
		snprintf(what, sizeof what, "abstime %s", names[i]);
		CHECK(what, timer_settime(a, TIMER_ABSTIME, &its, NULL));
		snprintf(what, sizeof what, "abstime %s value", names[i]);
		CHECK(what, waitsig(sig, &si) == sig && si.si_value.sival_int == i);
		its.it_value.tv_sec -= 10;
		snprintf(what, sizeof what, "abstime %s past", names[i]);
		CHECK(what, timer_settime(a, TIMER_ABSTIME, &its, NULL));
		CHECK("past fires", waitsig(sig, &si) == sig && si.si_value.sival_int == i);
		timer_delete(a);
	}

	/* Periodic from 10.5 ms ago: the periods since are the overrun. */
	{
		timer_t a = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, sig, 8);
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long at = ts_ns(now) - 10500000L;
		struct itimerspec its = {{0, 1 * MS}, {at / 1000000000L, at % 1000000000L}};
		CHECK("abstime past periodic", timer_settime(a, TIMER_ABSTIME, &its, NULL));
		CHECK("signal", waitsig(sig, &si) == sig && si.si_value.sival_int == 8);
		CHECK("overrun >= 10", si.si_overrun >= 10);
		timer_delete(a);
	}

	/* A handler, the signal unblocked. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR2, &sa, NULL);
	timer_t h = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR2, 7);
	arm(h, 0, 1 * MS, 1 * MS);
	while (handled < 3)
		pause();
	timer_delete(h);
	CHECK("handler code is SI_TIMER", handled_code == SI_TIMER);
	CHECK("handler value", handled_value);
	return 0;
}

/* thread-id: SIGEV_THREAD_ID runs the handler in the named thread. */
static volatile pid_t handler_tid;
static atomic_int target_tid;
static volatile sig_atomic_t thread_got;
static void on_thread_timer(int sig, siginfo_t *si, void *uc) {
	(void)sig, (void)uc;
	if (si->si_code == SI_TIMER && si->si_value.sival_int == 99)
		handler_tid = gettid();
	thread_got = 1;
}

static void *target(void *arg) {
	(void)arg;
	sigset_t none;
	sigemptyset(&none);
	atomic_store(&target_tid, gettid());
	while (!thread_got)
		sigsuspend(&none);
	return NULL;
}

static int mode_thread_id(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_thread_timer;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	block(SIGUSR1); /* the thread inherits the mask; sigsuspend opens it */
	pthread_t th;
	pthread_create(&th, NULL, target, NULL);
	while (atomic_load(&target_tid) == 0)
		sleep_ns(MS);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = SIGUSR1;
	ev.sigev_value.sival_int = 99;
	ev._sigev_un._tid = atomic_load(&target_tid);
	timer_t t;
	CHECK("create thread-id", timer_create(CLOCK_MONOTONIC, &ev, &t));
	CHECK("arm", arm(t, 0, 2 * MS, 0));
	pthread_join(th, NULL);
	CHECK("handler ran in the target", handler_tid == atomic_load(&target_tid));
	CHECK("not in main", handler_tid != gettid());
	timer_delete(t);

	/* Waiting for it in the named thread with sigwaitinfo. */
	ev._sigev_un._tid = gettid();
	ev.sigev_value.sival_int = 5;
	CHECK("create to main", timer_create(CLOCK_MONOTONIC, &ev, &t));
	CHECK("arm", arm(t, 0, 1 * MS, 0));
	siginfo_t si;
	CHECK("sigwaitinfo", waitsig(SIGUSR1, &si));
	CHECK("value", si.si_value.sival_int);
	timer_delete(t);

	ev._sigev_un._tid = 999999;
	CHECK("thread-id no such thread", timer_create(CLOCK_MONOTONIC, &ev, &t));
	return 0;
}

/* sigev-thread: glibc's SIGEV_THREAD, on SIGEV_THREAD_ID and SIGTIMER. */
static sem_t fired;
static atomic_int calls, wrong;
static pid_t main_tid;
static void notify_fn(union sigval v) {
	if (v.sival_int != 1234 || gettid() == main_tid)
		atomic_fetch_add(&wrong, 1);
	if (atomic_fetch_add(&calls, 1) < 3)
		sem_post(&fired);
}

/* The one-shot timer's function: its own counter and semaphore, as a
   notification of the periodic timer may still run after its
   timer_delete (glibc starts a thread per expiry). */
static sem_t fired_once;
static atomic_int once_calls;
static void notify_once(union sigval v) {
	if (v.sival_int != 5678 || gettid() == main_tid)
		atomic_fetch_add(&wrong, 1);
	atomic_fetch_add(&once_calls, 1);
	sem_post(&fired_once);
}

static int mode_sigev_thread(void) {
	main_tid = gettid();
	sem_init(&fired, 0, 0);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD;
	ev.sigev_notify_function = notify_fn;
	ev.sigev_value.sival_int = 1234;
	timer_t t;
	CHECK("create SIGEV_THREAD", timer_create(CLOCK_MONOTONIC, &ev, &t));
	CHECK("arm periodic", arm(t, 0, 1 * MS, 2 * MS));
	for (int i = 0; i < 3; i++)
		while (sem_wait(&fired) < 0 && errno == EINTR) {
		}
	struct itimerspec off = {{0, 0}, {0, 0}};
	CHECK("disarm", timer_settime(t, 0, &off, NULL));
	CHECK("calls >= 3", atomic_load(&calls) >= 3);
	CHECK("wrong calls", atomic_load(&wrong));
	/* A one-shot one beside it. The first is deleted only at the end:
	   glibc's helper thread may still be handling an expiry it took
	   before the disarm, and would take a new timer at the freed one's
	   address for it. */
	sem_init(&fired_once, 0, 0);
	ev.sigev_notify_function = notify_once;
	ev.sigev_value.sival_int = 5678;
	timer_t t2;
	CHECK("create another", timer_create(CLOCK_REALTIME, &ev, &t2));
	CHECK("arm one-shot", arm(t2, 0, 1 * MS, 0));
	while (sem_wait(&fired_once) < 0 && errno == EINTR) {
	}
	sleep_ns(5 * MS);
	CHECK("one call", atomic_load(&once_calls));
	CHECK("delete", timer_delete(t2));
	CHECK("delete the first", timer_delete(t));
	CHECK("wrong calls", atomic_load(&wrong));
	return 0;
}

/* overrun: a periodic timer whose signal stays pending counts overruns. */
static int mode_overrun(void) {
	int sigs[] = {SIGRTMIN + 2, SIGUSR1};
	for (int i = 0; i < 2; i++) {
		int sig = sigs[i];
		block(sig);
		timer_t t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, sig, 0);
		CHECK("arm 1ms period", arm(t, 0, 1 * MS, 1 * MS));
		sleep_ns(30 * MS);
		siginfo_t si;
		CHECK("signal", waitsig(sig, &si) == sig);
		CHECK("si_overrun > 0", si.si_overrun > 0);
		CHECK("getoverrun > 0", timer_getoverrun(t) > 0);
		CHECK("getoverrun is si_overrun", timer_getoverrun(t) == si.si_overrun);
		/* Only one instance was queued. */
		struct timespec zero = {0, 0};
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, sig);
		struct itimerspec off = {{0, 0}, {0, 0}};
		timer_settime(t, 0, &off, NULL);
		int more = 0;
		while (sigtimedwait(&s, &si, &zero) == sig)
			more++;
		CHECK("at most one more", more <= 1);
		CHECK("reset overrun", timer_getoverrun(t));
		timer_delete(t);
	}
	return 0;
}

/* none: SIGEV_NONE timers count down without notifying. */
static int mode_none(void) {
	timer_t t = make_timer(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
	struct itimerspec a, b;
	CHECK("arm 10s", arm(t, 0, 10000 * MS, 0));
	timer_gettime(t, &a);
	sleep_ns(3 * MS);
	timer_gettime(t, &b);
	CHECK("in (0, 10s]", ts_ns(a.it_value) > 0 && ts_ns(a.it_value) <= 10000 * MS);
	CHECK("decreasing", ts_ns(b.it_value) < ts_ns(a.it_value));
	CHECK("arm 1ms one-shot", arm(t, 0, 1 * MS, 0));
	sleep_ns(5 * MS);
	timer_gettime(t, &a);
	CHECK("expired value", ts_ns(a.it_value));
	CHECK("arm 1ms every 1s", arm(t, 0, 1 * MS, 1000 * MS));
	sleep_ns(5 * MS);
	timer_gettime(t, &a);
	CHECK("periodic value in (0, 1s]", ts_ns(a.it_value) > 0 && ts_ns(a.it_value) <= 1000 * MS);
	CHECK("periodic interval", ts_ns(a.it_interval));
	CHECK("getoverrun", timer_getoverrun(t));
	CHECK("delete", timer_delete(t));
	CHECK("delete again", timer_delete(t));
	return 0;
}

/* timerfd: counts, readiness in poll, select and epoll, flags. */
static int tfd_arm(int fd, int flags, long value, long interval) {
	struct itimerspec its = {{interval / 1000000000L, interval % 1000000000L},
				 {value / 1000000000L, value % 1000000000L}};
	return timerfd_settime(fd, flags, &its, NULL);
}

static long tfd_read(int fd) {
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof v);
	return n == 8 ? (long)v : n;
}

static int mode_timerfd(void) {
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	CHECK("create", fd >= 0);
	CHECK("flags O_RDWR", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	CHECK("no cloexec", fcntl(fd, F_GETFD));
	CHECK("arm one-shot", tfd_arm(fd, 0, 2 * MS, 0));
	CHECK("blocking read", tfd_read(fd));
	struct pollfd pfd = {fd, POLLIN, 0};
	CHECK("poll disarmed", poll(&pfd, 1, 0));
	CHECK("arm one-shot", tfd_arm(fd, 0, 1 * MS, 0));
	CHECK("poll", poll(&pfd, 1, -1));
	CHECK("revents", pfd.revents);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	CHECK("select", select(fd + 1, &rs, NULL, NULL, NULL));
	CHECK("read one-shot", tfd_read(fd));
	char small[4];
	CHECK("arm one-shot", tfd_arm(fd, 0, 1 * MS, 0));
	CHECK("short read", read(fd, small, 4));
	CHECK("write", write(fd, &(uint64_t){1}, 8));

	/* Periodic: ticks pile up unread. */
	CHECK("arm periodic", tfd_arm(fd, 0, 1 * MS, 1 * MS));
	sleep_ns(20 * MS);
	CHECK("ticks > 1", tfd_read(fd) > 1);
	struct itimerspec cur, old;
	CHECK("gettime", timerfd_gettime(fd, &cur));
	CHECK("interval", ts_ns(cur.it_interval));
	CHECK("value in (0, 1ms]", ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 1 * MS);
	struct itimerspec off = {{0, 0}, {0, 0}};
	CHECK("disarm", timerfd_settime(fd, 0, &off, &old));
	CHECK("old interval", ts_ns(old.it_interval));
	CHECK("gettime disarmed", timerfd_gettime(fd, &cur) == 0 && ts_ns(cur.it_value) == 0 && ts_ns(cur.it_interval) == 0);

	/* epoll, level- and edge-triggered. */
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7}, out[2];
	CHECK("epoll add", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	CHECK("epoll nothing", epoll_wait(ep, out, 2, 0));
	CHECK("arm periodic", tfd_arm(fd, 0, 1 * MS, 1 * MS));
	int n = epoll_wait(ep, out, 2, -1);
	CHECK("epoll_wait", n);
	CHECK("events", out[0].events);
	CHECK("data", out[0].data.u64);
	CHECK("level again", epoll_wait(ep, out, 2, 0));
	CHECK("read >= 1", tfd_read(fd) >= 1);
	tfd_arm(fd, 0, 0, 0);
	CHECK("epoll after read", epoll_wait(ep, out, 2, 0));
	ev.events = EPOLLIN | EPOLLET;
	CHECK("epoll mod ET", epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	CHECK("arm one-shot", tfd_arm(fd, 0, 1 * MS, 0));
	CHECK("ET wait", epoll_wait(ep, out, 2, -1));
	CHECK("ET again", epoll_wait(ep, out, 2, 0));
	CHECK("read", tfd_read(fd));
	CHECK("arm one-shot", tfd_arm(fd, 0, 1 * MS, 0));
	CHECK("ET new edge", epoll_wait(ep, out, 2, -1));
	CHECK("read", tfd_read(fd));
	close(ep);

	/* Nonblocking, close-on-exec, dup. */
	int nb = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	CHECK("nonblock flags", fcntl(nb, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	CHECK("cloexec", fcntl(nb, F_GETFD));
	CHECK("EAGAIN disarmed", tfd_read(nb));
	CHECK("arm 10s", tfd_arm(nb, 0, 10000 * MS, 0));
	CHECK("EAGAIN armed", tfd_read(nb));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long at = ts_ns(now) + 2 * MS;
	struct itimerspec abs = {{0, 0}, {at / 1000000000L, at % 1000000000L}};
	CHECK("abstime", timerfd_settime(nb, TFD_TIMER_ABSTIME, &abs, NULL));
	struct pollfd p2 = {nb, POLLIN, 0};
	CHECK("poll abstime", poll(&p2, 1, -1));
	CHECK("read abstime", tfd_read(nb));
	abs.it_value.tv_sec -= 100;
	CHECK("abstime past, cancel on set",
	      timerfd_settime(nb, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs, NULL));
	CHECK("poll past", poll(&p2, 1, -1));
	CHECK("read past", tfd_read(nb));
	/* Periodic from 10.5 ms ago: the periods since count. */
	clock_gettime(CLOCK_REALTIME, &now);
	at = ts_ns(now) - 10500000L;
	struct itimerspec per = {{0, 1 * MS}, {at / 1000000000L, at % 1000000000L}};
	CHECK("abstime past periodic", timerfd_settime(nb, TFD_TIMER_ABSTIME, &per, NULL));
	CHECK("poll", poll(&p2, 1, -1));
	CHECK("ticks >= 11", tfd_read(nb) >= 11);
	abs.it_value.tv_sec = 0;
	abs.it_value.tv_nsec = 1 * MS;
	CHECK("arm one-shot", timerfd_settime(nb, 0, &abs, NULL));
	int d = dup(nb);
	CHECK("dup shares nonblock", fcntl(d, F_GETFL) & O_NONBLOCK);
	CHECK("dup drops cloexec", fcntl(d, F_GETFD));
	close(nb);
	p2.fd = d;
	CHECK("poll dup after close", poll(&p2, 1, -1));
	CHECK("read through dup", tfd_read(d));
	CHECK("arm via dup", tfd_arm(d, 0, 1 * MS, 0));
	CHECK("poll dup", poll(&p2, 1, -1));
	CHECK("read dup", tfd_read(d));
	close(d);
	close(fd);
	return 0;
}

/* errors: bad clocks, ids, sigevents, settings, fds. */
static int mode_errors(void) {
	timer_t t;
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_NONE;
	CHECK("create realtime", timer_create(CLOCK_REALTIME, &ev, &t));
	timer_delete(t);
	CHECK("create boottime", timer_create(CLOCK_BOOTTIME, &ev, &t));
	timer_delete(t);
	CHECK("create tai", timer_create(CLOCK_TAI, &ev, &t));
	timer_delete(t);
	CHECK("create bad clock", timer_create(100, &ev, &t));
	CHECK("create monotonic raw", timer_create(CLOCK_MONOTONIC_RAW, &ev, &t));
	CHECK("create coarse", timer_create(CLOCK_MONOTONIC_COARSE, &ev, &t));
	CHECK("create bad sevp", syscall(SYS_timer_create, CLOCK_MONOTONIC, (void *)8, &t));
	int kt;
	CHECK("create bad timerid", syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, (void *)8));
	ev.sigev_notify = 3;
	CHECK("bad notify", syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &kt));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = 0;
	CHECK("signal 0", syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &kt));
	ev.sigev_signo = 65;
	CHECK("signal 65", syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &kt));
	ev.sigev_notify = SIGEV_NONE;
	CHECK("none ignores signal", syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &kt));
	struct itimerspec its = {{0, 0}, {0, 1000000000}};
	CHECK("settime bad nsec", syscall(SYS_timer_settime, kt, 0, &its, NULL));
	its.it_value.tv_nsec = 0;
	its.it_interval.tv_sec = -1;
	CHECK("settime negative interval", syscall(SYS_timer_settime, kt, 0, &its, NULL));
	CHECK("settime NULL", syscall(SYS_timer_settime, kt, 0, NULL, NULL));
	CHECK("settime bad pointer", syscall(SYS_timer_settime, kt, 0, (void *)8, NULL));
	CHECK("gettime bad pointer", syscall(SYS_timer_gettime, kt, (void *)8));
	syscall(SYS_timer_delete, kt);
	its.it_interval.tv_sec = 0;
	CHECK("settime bad id", syscall(SYS_timer_settime, 12345, 0, &its, NULL));
	CHECK("gettime bad id", syscall(SYS_timer_gettime, 12345, &its));
	CHECK("getoverrun bad id", syscall(SYS_timer_getoverrun, 12345));
	CHECK("delete bad id", syscall(SYS_timer_delete, 12345));
	CHECK("delete negative id", syscall(SYS_timer_delete, -1));
	CHECK("delete deleted", syscall(SYS_timer_delete, kt));

	CHECK("timerfd bad clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
	CHECK("timerfd raw clock", timerfd_create(CLOCK_MONOTONIC_RAW, 0));
	CHECK("timerfd bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
	int fd = timerfd_create(CLOCK_BOOTTIME, 0);
	its.it_value.tv_nsec = 1000000000;
	CHECK("timerfd bad nsec", timerfd_settime(fd, 0, &its, NULL));
	its.it_value.tv_nsec = 0;
	CHECK("timerfd bad settime flags", timerfd_settime(fd, 4, &its, NULL));
	CHECK("timerfd settime bad pointer", syscall(SYS_timerfd_settime, fd, 0, (void *)8, NULL));
	CHECK("timerfd gettime bad pointer", syscall(SYS_timerfd_gettime, fd, (void *)8));
	int pfd[2];
	pipe(pfd);
	CHECK("timerfd settime on pipe", timerfd_settime(pfd[0], 0, &its, NULL));
	CHECK("timerfd gettime on pipe", timerfd_gettime(pfd[0], &its));
	CHECK("timerfd settime bad fd", timerfd_settime(999, 0, &its, NULL));
	CHECK("timerfd gettime bad fd", timerfd_gettime(999, &its));
	return 0;
}

/* ignored: a periodic timer whose signal is ignored goes on once it is
   handled again; a timer's standard signal queues even if the same
   signal is already pending from kill. */
static int mode_ignored(void) {
	signal(SIGUSR2, SIG_IGN);
	timer_t t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR2, 3);
	CHECK("arm periodic, ignored", arm(t, 0, 1 * MS, 1 * MS));
	sleep_ns(5 * MS);
	struct itimerspec cur;
	CHECK("still counting down", timer_gettime(t, &cur) == 0 && ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 1 * MS);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR2, &sa, NULL);
	while (handled < 3)
		pause();
	CHECK("handled after unignoring", handled_value);
	CHECK("delete", timer_delete(t));

	block(SIGUSR1);
	kill(getpid(), SIGUSR1);
	t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 4);
	CHECK("arm one-shot", arm(t, 0, 1 * MS, 0));
	siginfo_t si;
	CHECK("first", waitsig(SIGUSR1, &si));
	CHECK("first code", si.si_code);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	struct timespec two = {2, 0};
	CHECK("second", sigtimedwait(&s, &si, &two));
	CHECK("second is the timer", si.si_code == SI_TIMER && si.si_value.sival_int == 4);
	CHECK("delete", timer_delete(t));
	return 0;
}

/* cap: create timers until the VMM refuses, arm them all, then free one
   and create again. */
static int mode_cap(void) {
	static timer_t ts[100000];
	int n = 0;
	int sig = SIGRTMIN + 3;
	block(sig);
	for (; n < 100000; n++) {
		struct sigevent ev;
		memset(&ev, 0, sizeof ev);
		ev.sigev_notify = SIGEV_SIGNAL;
		ev.sigev_signo = sig;
		if (timer_create(CLOCK_MONOTONIC, &ev, &ts[n]) < 0)
			break;
	}
	int e = errno;
	printf("created %d, then %s\n", n, strerror(e));
	int armed = 0;
	for (int i = 0; i < n; i++)
		armed += arm(ts[i], 0, 1 * MS, 1 * MS) == 0;
	printf("armed %d\n", armed);
	sleep_ns(20 * MS);
	CHECK("delete one", timer_delete(ts[0]));
	CHECK("create again", timer_create(CLOCK_MONOTONIC, NULL, &ts[0]));
	CHECK("full again", timer_create(CLOCK_MONOTONIC, NULL, &ts[n]));
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: timers MODE\n");
		return 2;
	}
	const char *m = argv[1];
	if (!strcmp(m, "posix"))
		return mode_posix();
	if (!strcmp(m, "thread-id"))
		return mode_thread_id();
	if (!strcmp(m, "sigev-thread"))
		return mode_sigev_thread();
	if (!strcmp(m, "overrun"))
		return mode_overrun();
	if (!strcmp(m, "none"))
		return mode_none();
	if (!strcmp(m, "timerfd"))
		return mode_timerfd();
	if (!strcmp(m, "errors"))
		return mode_errors();
	if (!strcmp(m, "ignored"))
		return mode_ignored();
	if (!strcmp(m, "cap"))
		return mode_cap();
	fprintf(stderr, "unknown mode %s\n", m);
	return 2;
}
