/* signalfd MODE: signalfd and signalfd4, printing only facts that do
   not depend on timing, so that the native and the VM run compare byte
   for byte. Modes: read (kill, tgkill, sigqueue, several per read,
   real-time order), mask (signalfd4 on an existing fd, SIGKILL in the
   mask, a signal that is not blocked), poll (poll, select, epoll),
   threads (a blocking read woken by another thread, interrupted by a
   handler), timer (a POSIX timer's signal), fdops (dup, fcntl, fstat,
   /proc/self/fd), errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MS 1000000L

static void sleep_ns(long ns) {
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static sigset_t set_of(int a, int b, int c) {
	sigset_t s;
	sigemptyset(&s);
	if (a)
		sigaddset(&s, a);
	if (b)
		sigaddset(&s, b);
	if (c)
		sigaddset(&s, c);
	return s;
}

static void block(sigset_t s) { pthread_sigmask(SIG_BLOCK, &s, NULL); }

/* show prints the fields of one signalfd_siginfo; pids and uids as
   comparisons, since they differ between the runs. */
static void show(const char *what, const struct signalfd_siginfo *si) {
	printf("%s: signo %u errno %d code %d pid-is-self %d uid-is-self %d int %d ptr %llu "
	       "fd %d band %u status %d trapno %u addr %llu utime %llu stime %llu\n",
	       what, si->ssi_signo, si->ssi_errno, si->ssi_code, si->ssi_pid == (uint32_t)getpid(),
	       si->ssi_uid == (uint32_t)getuid(), si->ssi_int, (unsigned long long)si->ssi_ptr,
	       si->ssi_fd, si->ssi_band, si->ssi_status, si->ssi_trapno,
	       (unsigned long long)si->ssi_addr, (unsigned long long)si->ssi_utime,
	       (unsigned long long)si->ssi_stime);
}

/* readn reads up to n infos from fd and shows them; it prints the count
   or the error. */
static void readn(const char *what, int fd, int n) {
	struct signalfd_siginfo si[8];
	ssize_t r = read(fd, si, n * sizeof si[0]);
	if (r < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: %zd bytes\n", what, r);
	for (int i = 0; i < r / (ssize_t)sizeof si[0]; i++)
		show(what, &si[i]);
}

static int sendq(int sig, int v) { return sigqueue(getpid(), sig, (union sigval){.sival_int = v}); }

static int mode_read(void) {
	int rt = SIGRTMIN;
	sigset_t m = set_of(SIGUSR1, SIGUSR2, rt);
	block(m);
	int fd = signalfd(-1, &m, SFD_NONBLOCK);
	CHECK("signalfd", fd >= 0);
	readn("empty", fd, 1);
	CHECK("raise", raise(SIGUSR1));
	readn("raise", fd, 1);
	CHECK("kill", kill(getpid(), SIGUSR2));
	readn("kill", fd, 1);
	CHECK("tgkill", syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1));
	readn("tgkill", fd, 1);
	/* Standard signals pend once; real-time ones queue in order. */
	CHECK("kill USR1", kill(getpid(), SIGUSR1));
	CHECK("kill USR1 again", kill(getpid(), SIGUSR1));
	for (int i = 1; i <= 3; i++)
		CHECK("sigqueue RTMIN", sendq(rt, 100 + i));
	CHECK("sigqueue USR2", sendq(SIGUSR2, 7));
	readn("five slots", fd, 5);
	/* A short buffer takes what fits: 2 of 3; the rest stays. */
	for (int i = 1; i <= 3; i++)
		CHECK("sigqueue RTMIN", sendq(rt, 200 + i));
	struct signalfd_siginfo si[3];
	ssize_t r = read(fd, si, sizeof si[0] * 2 + 100);
	printf("2.8 slots: %zd bytes, values %d %d\n", r, si[0].ssi_int, si[1].ssi_int);
	readn("rest", fd, 8);
	/* The thread's own queue comes first (dequeue_signal), then the
	   lowest signal. */
	CHECK("kill RTMIN", sendq(rt, 1));
	CHECK("pthread_sigqueue RTMIN", pthread_sigqueue(pthread_self(), rt, (union sigval){.sival_int = 2}));
	CHECK("kill USR2", kill(getpid(), SIGUSR2));
	readn("private first", fd, 8);
	/* A value as a pointer. */
	CHECK("sigqueue ptr", sigqueue(getpid(), rt, (union sigval){.sival_ptr = (void *)0x123456789abcULL}));
	readn("pointer", fd, 1);
	/* Short buffer. */
	CHECK("kill USR1", kill(getpid(), SIGUSR1));
	r = read(fd, si, sizeof si[0] - 1);
	CHECK("read 127 bytes", r);
	readn("still there", fd, 1);
	r = read(fd, si, 0);
	CHECK("read 0 bytes", r);
	CHECK("close", close(fd));
	return 0;
}

static volatile sig_atomic_t handled;
static void on_sig(int sig) { handled++; }

static int mode_mask(void) {
	sigset_t m = set_of(SIGUSR1, SIGUSR2, 0);
	block(m);
	sigset_t one = set_of(SIGUSR1, 0, 0);
	int fd = signalfd(-1, &one, SFD_NONBLOCK | SFD_CLOEXEC);
	CHECK("signalfd USR1", fd >= 0);
	CHECK("kill USR2", kill(getpid(), SIGUSR2));
	readn("USR1 mask", fd, 2);
	sigset_t two = set_of(SIGUSR2, 0, 0);
	CHECK("signalfd4 same fd", signalfd(fd, &two, 0) == fd);
	readn("USR2 mask", fd, 2);
	/* The flags of a new mask do not change the file. */
	CHECK("still nonblocking", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	CHECK("still cloexec", fcntl(fd, F_GETFD));
	/* SIGKILL and SIGSTOP in the mask are ignored. */
	sigset_t k = set_of(SIGKILL, SIGSTOP, SIGUSR1);
	int kfd = signalfd(-1, &k, SFD_NONBLOCK);
	CHECK("signalfd with SIGKILL", kfd >= 0);
	CHECK("raise USR1", raise(SIGUSR1));
	readn("kill mask", kfd, 2);
	/* A signal of the mask that is not blocked is delivered. */
	signal(SIGUSR2, on_sig);
	sigset_t u = set_of(SIGUSR2, 0, 0);
	pthread_sigmask(SIG_UNBLOCK, &u, NULL);
	CHECK("raise unblocked USR2", raise(SIGUSR2));
	CHECK("handled", handled);
	readn("unblocked", fd, 1);
	/* Pending before the signalfd exists counts too. */
	CHECK("kill USR1", kill(getpid(), SIGUSR1));
	int late = signalfd(-1, &one, SFD_NONBLOCK);
	readn("late fd", late, 1);
	close(late);
	close(kfd);
	close(fd);
	return 0;
}

static atomic_int stop;
static pthread_t main_thread;

static void *send_later(void *arg) {
	int sig = (int)(intptr_t)arg;
	sleep_ns(20 * MS);
	kill(getpid(), sig);
	return NULL;
}

static int other_fd, other_ep, go[2];

/* other_thread waits for main's go, then polls and reads the signal main
   sent it. */
static void *other_thread(void *arg) {
	char c;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	struct pollfd p = {.fd = other_fd, .events = POLLIN};
	CHECK("poll there", poll(&p, 1, 0));
	struct epoll_event out[2];
	CHECK("epoll_wait there", epoll_wait(other_ep, out, 2, 0));
	readn("read there", other_fd, 1);
	CHECK("poll there after", poll(&p, 1, 0));
	return NULL;
}

static int mode_poll(void) {
	sigset_t m = set_of(SIGUSR1, SIGRTMIN + 1, 0);
	block(m);
	int fd = signalfd(-1, &m, SFD_NONBLOCK);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK("poll empty", poll(&p, 1, 0));
	CHECK("kill USR1", kill(getpid(), SIGUSR1));
	CHECK("poll", poll(&p, 1, 0));
	CHECK("revents", p.revents);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	struct timeval tv = {0, 0};
	CHECK("select", select(fd + 1, &rs, NULL, NULL, &tv));
	CHECK("select set", FD_ISSET(fd, &rs));
	readn("read", fd, 1);
	p.revents = 0;
	CHECK("poll after read", poll(&p, 1, 0));

	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 42};
	CHECK("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	struct epoll_event out[2];
	CHECK("epoll_wait empty", epoll_wait(ep, out, 2, 0));
	CHECK("sigqueue RTMIN+1", sendq(SIGRTMIN + 1, 5));
	int n = epoll_wait(ep, out, 2, 0);
	printf("epoll_wait: %d events %#x data %u\n", n, n > 0 ? out[0].events : 0, n > 0 ? out[0].data.u32 : 0);
	readn("read", fd, 1);
	CHECK("epoll_wait after read", epoll_wait(ep, out, 2, 0));

	/* Waiting: another thread sends the signal. */
	pthread_t th;
	pthread_create(&th, NULL, send_later, (void *)(intptr_t)SIGUSR1);
	n = epoll_wait(ep, out, 2, 5000);
	printf("epoll_wait blocking: %d events %#x\n", n, n > 0 ? out[0].events : 0);
	pthread_join(th, NULL);
	readn("read", fd, 1);
	pthread_create(&th, NULL, send_later, (void *)(intptr_t)(SIGRTMIN + 1));
	p.revents = 0;
	CHECK("poll blocking", poll(&p, 1, 5000));
	CHECK("revents", p.revents);
	pthread_join(th, NULL);
	readn("read", fd, 1);
	pthread_create(&th, NULL, send_later, (void *)(intptr_t)SIGUSR1);
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	tv.tv_sec = 5;
	CHECK("select blocking", select(fd + 1, &rs, NULL, NULL, &tv));
	pthread_join(th, NULL);
	readn("read", fd, 1);

	/* Edge-triggered: one event per signal queued. */
	ev.events = EPOLLIN | EPOLLET;
	CHECK("epoll_ctl MOD ET", epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	CHECK("epoll_wait ET empty", epoll_wait(ep, out, 2, 0));
	CHECK("kill USR1", kill(getpid(), SIGUSR1));
	CHECK("epoll_wait ET", epoll_wait(ep, out, 2, 0));
	CHECK("epoll_wait ET again", epoll_wait(ep, out, 2, 0));
	CHECK("sigqueue RTMIN+1", sendq(SIGRTMIN + 1, 6));
	CHECK("epoll_wait ET new signal", epoll_wait(ep, out, 2, 0));
	readn("read both", fd, 4);

	/* A signal pending for another thread: not readable to this one,
	   readable to that one (signalfd_poll looks at the polling thread
	   and the process). */
	ev.events = EPOLLIN;
	CHECK("epoll_ctl MOD LT", epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	other_fd = fd;
	other_ep = ep;
	if (pipe(go) < 0)
		return 1;
	pthread_create(&th, NULL, other_thread, NULL);
	CHECK("pthread_sigqueue other", pthread_sigqueue(th, SIGUSR1, (union sigval){.sival_int = 9}));
	p.revents = 0;
	CHECK("poll here", poll(&p, 1, 0));
	CHECK("epoll_wait here", epoll_wait(ep, out, 2, 0));
	readn("read here", fd, 1);
	/* Printed before the other thread may run, so that the output does
	   not depend on which runs first. */
	printf("go\n");
	char c = 0;
	if (write(go[1], &c, 1) != 1)
		return 1;
	pthread_join(th, NULL);
	close(ep);
	close(fd);
	return 0;
}

static void *send_to_main(void *arg) {
	sleep_ns(20 * MS);
	pthread_sigqueue(main_thread, SIGRTMIN + 3, (union sigval){.sival_int = 33});
	return NULL;
}

static void *interrupt_main(void *arg) {
	while (!atomic_load(&stop)) {
		pthread_kill(main_thread, SIGUSR2);
		sleep_ns(5 * MS);
	}
	return NULL;
}

static void *interrupt_then_send(void *arg) {
	for (int i = 0; i < 5; i++) {
		pthread_kill(main_thread, SIGUSR2);
		sleep_ns(5 * MS);
	}
	kill(getpid(), SIGUSR1);
	return NULL;
}

static int mode_threads(void) {
	main_thread = pthread_self();
	sigset_t m = set_of(SIGUSR1, SIGRTMIN + 3, 0);
	block(m); /* before the threads, which inherit the mask */
	int fd = signalfd(-1, &m, 0);
	pthread_t th;
	/* A process-directed signal that every thread blocks. */
	pthread_create(&th, NULL, send_later, (void *)(intptr_t)SIGUSR1);
	readn("woken by kill", fd, 2);
	pthread_join(th, NULL);
	/* A signal for the reading thread. */
	pthread_create(&th, NULL, send_to_main, NULL);
	readn("woken by pthread_sigqueue", fd, 2);
	pthread_join(th, NULL);

	/* A handled signal interrupts the read: EINTR without SA_RESTART. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigaction(SIGUSR2, &sa, NULL);
	pthread_create(&th, NULL, interrupt_main, NULL);
	readn("interrupted", fd, 1);
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	CHECK("handled", handled > 0);
	/* With SA_RESTART the read goes on. */
	handled = 0;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	pthread_create(&th, NULL, interrupt_then_send, NULL);
	readn("restarted", fd, 1);
	pthread_join(th, NULL);
	CHECK("handled", handled > 0);
	close(fd);
	return 0;
}

static int mode_timer(void) {
	int sig = SIGRTMIN + 2;
	sigset_t m = set_of(sig, SIGALRM, 0);
	block(m);
	int fd = signalfd(-1, &m, 0);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = 77;
	timer_t t;
	CHECK("timer_create", timer_create(CLOCK_MONOTONIC, &ev, &t));
	struct itimerspec its = {{0, 1 * MS}, {0, 1 * MS}};
	CHECK("arm 1ms period", timer_settime(t, 0, &its, NULL));
	sleep_ns(30 * MS);
	struct signalfd_siginfo si;
	CHECK("read", read(fd, &si, sizeof si));
	CHECK("signo", si.ssi_signo == (uint32_t)sig);
	CHECK("code is SI_TIMER", si.ssi_code == SI_TIMER);
	CHECK("tid is the timer", si.ssi_tid == (uint32_t)(intptr_t)t);
	CHECK("int", si.ssi_int);
	CHECK("overrun > 0", si.ssi_overrun > 0);
	CHECK("getoverrun is ssi_overrun", timer_getoverrun(t) == (int)si.ssi_overrun);
	CHECK("pid", si.ssi_pid);
	/* The read rearmed the timer: the next signal comes. */
	CHECK("read again", read(fd, &si, sizeof si));
	CHECK("code is SI_TIMER", si.ssi_code == SI_TIMER);
	CHECK("tid is the timer", si.ssi_tid == (uint32_t)(intptr_t)t);
	/* A new setting drops the queued signal of the old one. */
	sleep_ns(5 * MS);
	struct itimerspec far = {{0, 0}, {10, 0}};
	CHECK("rearm 10s", timer_settime(t, 0, &far, NULL));
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	readn("stale dropped", fd, 1);
	CHECK("delete", timer_delete(t));
	/* A NULL sigevent: SIGALRM with the timer id as the value (the raw
	   call: glibc passes a sigevent of its own). */
	int kt;
	CHECK("timer_create NULL", syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &kt));
	struct itimerspec once = {{0, 0}, {0, 1 * MS}};
	CHECK("arm 1ms", syscall(SYS_timer_settime, kt, 0, &once, NULL));
	fcntl(fd, F_SETFL, fl);
	CHECK("read SIGALRM", read(fd, &si, sizeof si));
	CHECK("signo", si.ssi_signo);
	CHECK("code is SI_TIMER", si.ssi_code == SI_TIMER);
	CHECK("tid is the timer", si.ssi_tid == (uint32_t)kt);
	CHECK("int is the id", si.ssi_int == kt);
	CHECK("overrun", si.ssi_overrun);
	syscall(SYS_timer_delete, kt);
	close(fd);
	return 0;
}

static int mode_fdops(void) {
	sigset_t m = set_of(SIGUSR1, 0, 0);
	block(m);
	int fd = signalfd(-1, &m, SFD_CLOEXEC);
	CHECK("F_GETFD", fcntl(fd, F_GETFD));
	CHECK("F_GETFL", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	char path[64], link[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	printf("readlink: %s\n", link);
	struct stat st;
	CHECK("fstat", fstat(fd, &st));
	printf("st_mode %#o nlink %lu size %ld\n", st.st_mode, (unsigned long)st.st_nlink, (long)st.st_size);
	CHECK("F_SETFL O_NONBLOCK", fcntl(fd, F_SETFL, O_NONBLOCK));
	struct signalfd_siginfo si;
	CHECK("read nonblocking", read(fd, &si, sizeof si));
	int d = dup(fd);
	CHECK("dup F_GETFD", fcntl(d, F_GETFD));
	CHECK("dup shares O_NONBLOCK", (fcntl(d, F_GETFL) & O_NONBLOCK) != 0);
	CHECK("close original", close(fd));
	CHECK("raise", raise(SIGUSR1));
	readn("through dup", d, 1);
	CHECK("signalfd4 on dup", signalfd(d, &m, 0) == d);
	CHECK("write", write(d, &si, sizeof si));
	CHECK("lseek", lseek(d, 0, SEEK_SET));
	CHECK("pread", pread(d, &si, sizeof si, 0));
	int pfd[2];
	pipe(pfd);
	CHECK("raise", raise(SIGUSR1));
	CHECK("sendfile from signalfd", sendfile(pfd[1], d, NULL, sizeof si));
	readn("left", d, 1);
	close(pfd[0]);
	close(pfd[1]);
	close(d);
	return 0;
}

static int mode_errors(void) {
	sigset_t m = set_of(SIGUSR1, 0, 0);
	block(m);
	CHECK("sizemask 4", syscall(SYS_signalfd4, -1, &m, 4, 0));
	CHECK("sizemask 16", syscall(SYS_signalfd4, -1, &m, 16, 0));
	CHECK("signalfd sizemask 0", syscall(SYS_signalfd, -1, &m, 0));
	CHECK("bad flags", syscall(SYS_signalfd4, -1, &m, 8, 1));
	CHECK("bad flags O_APPEND", syscall(SYS_signalfd4, -1, &m, 8, O_APPEND));
	CHECK("NULL mask", syscall(SYS_signalfd4, -1, NULL, 8, 0));
	CHECK("bad mask pointer", syscall(SYS_signalfd4, -1, (void *)8, 8, 0));
	CHECK("fd not open", syscall(SYS_signalfd4, 999, &m, 8, 0));
	CHECK("fd -2", syscall(SYS_signalfd4, -2, &m, 8, 0));
	CHECK("fd stdout", syscall(SYS_signalfd4, 1, &m, 8, 0));
	int pfd[2];
	pipe(pfd);
	CHECK("fd a pipe", syscall(SYS_signalfd4, pfd[0], &m, 8, 0));
	int fd = syscall(SYS_signalfd, -1, &m, 8);
	CHECK("old signalfd", fd >= 0);
	CHECK("old signalfd flags", fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK("old signalfd cloexec", fcntl(fd, F_GETFD));
	CHECK("sizemask on existing", syscall(SYS_signalfd4, fd, &m, 4, 0));
	CHECK("flags on existing", syscall(SYS_signalfd4, fd, &m, 8, 0x4000000));
	CHECK("raise", raise(SIGUSR1));
	struct signalfd_siginfo si;
	void *volatile bad = (void *)8;
	CHECK("read into bad buffer", read(fd, bad, sizeof si));
	CHECK("read 100", read(fd, &si, 100));
	/* The read that faulted took the signal, as in Linux. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	CHECK("read", read(fd, &si, sizeof si));
	close(fd);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: signalfd MODE\n");
		return 2;
	}
	const char *m = argv[1];
	if (!strcmp(m, "read"))
		return mode_read();
	if (!strcmp(m, "mask"))
		return mode_mask();
	if (!strcmp(m, "poll"))
		return mode_poll();
	if (!strcmp(m, "threads"))
		return mode_threads();
	if (!strcmp(m, "timer"))
		return mode_timer();
	if (!strcmp(m, "fdops"))
		return mode_fdops();
	if (!strcmp(m, "errors"))
		return mode_errors();
	fprintf(stderr, "unknown mode %s\n", m);
	return 2;
}
