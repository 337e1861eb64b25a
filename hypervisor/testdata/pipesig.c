/* pipesig MODE [ARG]: where pipes meet signals. Every mode prints the
   same bytes natively and in the VM (and ends with the same status):
   SIGPIPE and EPIPE for writes without readers, signals interrupting
   threads parked in pipe reads and writes, poll, select, ppoll,
   pselect6 and epoll_wait, and the temporary masks of ppoll, pselect6
   and epoll_pwait. Times are printed only as comparisons. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SHOW(what, expr)                                                                      \
	do {                                                                                  \
		errno = 0;                                                                    \
		long r_ = (long)(expr);                                                       \
		int e_ = errno;                                                               \
		printf("%s: %ld%s%s\n", what, r_, r_ < 0 ? " " : "", r_ < 0 ? strerror(e_) : ""); \
	} while (0)

static volatile sig_atomic_t hits, pipe_hits, pipe_code, pipe_pid_ok;

static void on_pipe(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	pipe_hits++;
	pipe_code = si->si_code;
	pipe_pid_ok = si->si_pid == getpid();
}

static void on_usr1(int sig) {
	(void)sig;
	hits++;
}

static void handle(int sig, void (*fn)(int), int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

static void ms_sleep(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A pipe whose read end is closed. */
static int broken_pipe(void) {
	int p[2];
	if (pipe(p) != 0) {
		perror("pipe");
		exit(2);
	}
	close(p[0]);
	return p[1];
}

/* Each way of writing into a pipe without readers. */
static long write_by(const char *how, int fd) {
	static char data[] = "data";
	struct iovec iov[2] = {{data, 2}, {data + 2, 2}};
	if (!strcmp(how, "write"))
		return write(fd, data, 4);
	if (!strcmp(how, "writev"))
		return writev(fd, iov, 2);
	if (!strcmp(how, "pwritev2"))
		return pwritev2(fd, iov, 2, -1, 0);
	if (!strcmp(how, "sendfile")) {
		int in = open("/proc/self/exe", O_RDONLY);
		long r = sendfile(fd, in, NULL, 4);
		int e = errno;
		close(in);
		errno = e;
		return r;
	}
	fprintf(stderr, "unknown write %s\n", how);
	exit(2);
}

static const char *const hows[] = {"write", "writev", "pwritev2", "sendfile"};

/* sigpipe HOW: the default action of SIGPIPE ends the process. */
static int mode_sigpipe(const char *how) {
	int fd = broken_pipe();
	printf("%s into a pipe without readers\n", how);
	fflush(stdout);
	write_by(how, fd);
	printf("still alive after %s\n", how);
	return 0;
}

/* epipe: with SIGPIPE ignored, caught or blocked, writes fail with
   EPIPE; the signal goes to the writing thread (SI_USER, our pid). */
static int mode_epipe(void) {
	int fd = broken_pipe();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < 4; i++) {
		char what[64];
		snprintf(what, sizeof what, "ignored, %s", hows[i]);
		SHOW(what, write_by(hows[i], fd));
	}
	SHOW("ignored, pwrite64", pwrite(fd, "x", 1, 0));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_pipe;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGPIPE, &sa, NULL);
	for (int i = 0; i < 4; i++) {
		char what[64];
		snprintf(what, sizeof what, "caught, %s", hows[i]);
		SHOW(what, write_by(hows[i], fd));
		printf("  handler ran %d time(s), si_code %d, si_pid ours %d\n", pipe_hits, pipe_code, pipe_pid_ok);
	}
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	SHOW("blocked, write", write(fd, "x", 1));
	sigpending(&pend);
	printf("  pending %d, handler ran %d time(s)\n", sigismember(&pend, SIGPIPE), pipe_hits);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("  unblocked: handler ran %d time(s)\n", pipe_hits);
	return 0;
}

static int closer_fd;
static void *closer(void *arg) {
	(void)arg;
	ms_sleep(30);
	close(closer_fd);
	return NULL;
}

/* parked: a writer waiting on a full pipe, or half-way through a large
   write, when the last reader goes. */
static int mode_parked(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_pipe;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGPIPE, &sa, NULL);
	static char big[100000];
	for (int round = 0; round < 2; round++) {
		int p[2];
		pipe(p);
		size_t want = sizeof big;
		if (round == 0) {
			/* Fill it first: the write moves nothing. */
			fcntl(p[1], F_SETFL, O_NONBLOCK);
			long filled = 0, n;
			while ((n = write(p[1], big, 4096)) > 0)
				filled += n;
			fcntl(p[1], F_SETFL, 0);
			printf("filled %ld bytes\n", filled);
			want = 100;
		}
		closer_fd = p[0];
		pthread_t t;
		pthread_create(&t, NULL, closer, NULL);
		int before = pipe_hits;
		SHOW(round == 0 ? "write to a full pipe" : "large write to an empty pipe", write(p[1], big, want));
		pthread_join(t, NULL);
		printf("  SIGPIPE handler ran %d time(s)\n", pipe_hits - before);
		close(p[1]);
	}
	return 0;
}

/* yes: "y" lines until a write fails; with the default SIGPIPE the
   process dies with it. */
static int mode_yes(void) {
	for (;;) {
		if (fputs("y\n", stdout) == EOF || fflush(stdout) == EOF) {
			fprintf(stderr, "yes: %s\n", strerror(errno));
			return 3;
		}
	}
}

static pthread_t target;
static volatile int target_done;

/* Signals the target thread every 10 ms until it is done. */
static void *pester(void *arg) {
	int sig = (int)(intptr_t)arg;
	while (!target_done) {
		pthread_kill(target, sig);
		ms_sleep(10);
	}
	return NULL;
}

static pthread_t start_pester(int sig) {
	pthread_t t;
	target = pthread_self();
	target_done = 0;
	pthread_create(&t, NULL, pester, (void *)(intptr_t)sig);
	return t;
}

static void stop_pester(pthread_t t) {
	target_done = 1;
	pthread_join(t, NULL);
}

static int feed_fd;
static volatile int feed_after;
/* Writes "late" to feed_fd once the handler ran feed_after times. */
static void *feeder(void *arg) {
	(void)arg;
	while (hits < feed_after)
		ms_sleep(5);
	write(feed_fd, "late", 4);
	return NULL;
}

/* Writes "late" to feed_fd after 20 ms. */
static void *write_late(void *arg) {
	(void)arg;
	ms_sleep(20);
	write(feed_fd, "late", 4);
	return NULL;
}

static int drain_fd;
/* Reads everything from drain_fd once the handler ran feed_after
   times. */
static void *drainer(void *arg) {
	(void)arg;
	while (hits < feed_after)
		ms_sleep(5);
	char buf[4096];
	long total = 0, n;
	fcntl(drain_fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		n = read(drain_fd, buf, sizeof buf);
		if (n > 0) {
			total += n;
			continue;
		}
		if (total >= 65536 + 100)
			break;
		ms_sleep(5);
	}
	return (void *)(intptr_t)total;
}

static void fill(int fd) {
	static char buf[4096];
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (write(fd, buf, sizeof buf) > 0)
		;
	fcntl(fd, F_SETFL, 0);
}

/* rw: pipe reads and writes interrupted by a handler: EINTR without
   SA_RESTART, restarted with it. */
static int mode_rw(void) {
	for (int restart = 0; restart < 2; restart++) {
		handle(SIGUSR1, on_usr1, restart ? SA_RESTART : 0);
		const char *how = restart ? "SA_RESTART" : "no SA_RESTART";
		int p[2];
		pipe(p);
		hits = 0;
		feed_fd = p[1];
		feed_after = restart ? 3 : 1 << 30;
		pthread_t f;
		pthread_create(&f, NULL, feeder, NULL);
		pthread_t t = start_pester(SIGUSR1);
		char buf[16];
		errno = 0;
		long n = read(p[0], buf, sizeof buf);
		int e = errno;
		stop_pester(t);
		printf("read, %s: %ld %s%s\n", how, n, n < 0 ? strerror(e) : "", n > 0 ? "(data)" : "");
		if (!restart)
			feed_after = 0;
		pthread_join(f, NULL);
		close(p[0]);
		close(p[1]);

		pipe(p);
		fill(p[1]);
		hits = 0;
		drain_fd = p[0];
		feed_after = restart ? 3 : 1 << 30;
		pthread_t d;
		pthread_create(&d, NULL, drainer, NULL);
		static char data[100];
		t = start_pester(SIGUSR1);
		errno = 0;
		n = write(p[1], data, sizeof data);
		e = errno;
		stop_pester(t);
		printf("write to a full pipe, %s: %ld %s\n", how, n, n < 0 ? strerror(e) : "");
		if (!restart) {
			feed_after = 0;
			write(p[1], data, sizeof data); /* what the drainer waits for */
		}
		void *total;
		pthread_join(d, &total);
		printf("  the reader got %ld bytes\n", (long)(intptr_t)total);
		close(p[0]);
		close(p[1]);
	}
	return 0;
}

/* waits: poll, select, ppoll, pselect6 and epoll_wait on an empty pipe
   are interrupted by a handler even with SA_RESTART; select and the
   raw ppoll and pselect6 report the time left. */
static int mode_waits(void) {
	handle(SIGUSR1, on_usr1, SA_RESTART);
	int p[2];
	pipe(p);
	pthread_t t;

	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	t = start_pester(SIGUSR1);
	SHOW("poll, 5 s", poll(&pfd, 1, 5000));
	stop_pester(t);
	t = start_pester(SIGUSR1);
	SHOW("poll, forever", poll(&pfd, 1, -1));
	stop_pester(t);

	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	struct timeval tv = {5, 0};
	t = start_pester(SIGUSR1);
	SHOW("select, 5 s", select(p[0] + 1, &rd, NULL, NULL, &tv));
	stop_pester(t);
	printf("  time left in (3 s, 5 s): %d\n", tv.tv_sec >= 3 && tv.tv_sec < 5);

	struct timespec ts = {5, 0};
	t = start_pester(SIGUSR1);
	SHOW("raw ppoll, 5 s", syscall(SYS_ppoll, &pfd, 1, &ts, NULL, 8));
	stop_pester(t);
	printf("  time left in (3 s, 5 s): %d\n", ts.tv_sec >= 3 && ts.tv_sec < 5);

	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	ts = (struct timespec){5, 0};
	t = start_pester(SIGUSR1);
	SHOW("raw pselect6, 5 s", syscall(SYS_pselect6, p[0] + 1, &rd, NULL, NULL, &ts, NULL));
	stop_pester(t);
	printf("  time left in (3 s, 5 s): %d\n", ts.tv_sec >= 3 && ts.tv_sec < 5);

	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	t = start_pester(SIGUSR1);
	SHOW("epoll_wait, forever", epoll_wait(ep, &ev, 1, -1));
	stop_pester(t);

	/* A zero timeout with nothing ready and a signal the temporary mask
	   unblocks: EINTR rather than 0. */
	sigset_t usr1, none;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	raise(SIGUSR1);
	hits = 0;
	struct timespec zero = {0, 0};
	SHOW("ppoll, zero timeout, SIGUSR1 pending and unblocked", ppoll(&pfd, 1, &zero, &none));
	printf("  handler ran %d time(s)\n", hits);
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	return 0;
}

static void *send_later(void *arg) {
	(void)arg;
	ms_sleep(20);
	pthread_kill(target, SIGUSR1);
	return NULL;
}

static void show_blocked(const char *when) {
	sigset_t cur;
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	printf("  %s: SIGUSR1 blocked %d, handler ran %d time(s)\n", when, sigismember(&cur, SIGUSR1), hits);
}

/* masks: ppoll, pselect6 and epoll_pwait replace the mask while they
   wait. A pending signal the temporary mask unblocks interrupts the
   wait and its handler runs; a signal it blocks waits until the call
   returned and the old mask is back. */
static int mode_masks(void) {
	handle(SIGUSR1, on_usr1, 0);
	int p[2];
	pipe(p);
	sigset_t usr1, none;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	fd_set rd;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	struct timespec ts = {5, 0};

	/* Blocked now, unblocked while waiting. */
	for (int call = 0; call < 3; call++) {
		sigprocmask(SIG_BLOCK, &usr1, NULL);
		hits = 0;
		raise(SIGUSR1);
		switch (call) {
		case 0:
			SHOW("ppoll unblocking a pending SIGUSR1", ppoll(&pfd, 1, &ts, &none));
			break;
		case 1:
			FD_ZERO(&rd);
			FD_SET(p[0], &rd);
			SHOW("pselect unblocking a pending SIGUSR1", pselect(p[0] + 1, &rd, NULL, NULL, &ts, &none));
			break;
		case 2:
			SHOW("epoll_pwait unblocking a pending SIGUSR1", epoll_pwait(ep, &ev, 1, 5000, &none));
			break;
		}
		show_blocked("after");
		sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	}

	/* Unblocked now, blocked while waiting: the wait times out. */
	target = pthread_self();
	struct timespec short_ts = {0, 150000000};
	for (int call = 0; call < 3; call++) {
		hits = 0;
		pthread_t t;
		pthread_create(&t, NULL, send_later, NULL);
		switch (call) {
		case 0:
			SHOW("ppoll blocking SIGUSR1", ppoll(&pfd, 1, &short_ts, &usr1));
			break;
		case 1:
			FD_ZERO(&rd);
			FD_SET(p[0], &rd);
			SHOW("pselect blocking SIGUSR1", pselect(p[0] + 1, &rd, NULL, NULL, &short_ts, &usr1));
			break;
		case 2:
			SHOW("epoll_pwait blocking SIGUSR1", epoll_pwait(ep, &ev, 1, 150, &usr1));
			break;
		}
		pthread_join(t, NULL);
		show_blocked("after the sender is done");
	}

	/* Ready at once: the call returns without the temporary mask ever
	   letting the pending signal through. */
	write(p[1], "x", 1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	hits = 0;
	raise(SIGUSR1);
	SHOW("ppoll with data ready, SIGUSR1 pending", ppoll(&pfd, 1, &ts, &none));
	show_blocked("after");
	SHOW("bad sigset size", syscall(SYS_ppoll, &pfd, 1, &ts, &none, 4));
	sigset_t pend;
	sigpending(&pend);
	printf("  still pending %d\n", sigismember(&pend, SIGUSR1));

	/* Timeouts: select carries microseconds past a second into the
	   seconds; negative values and nanoseconds past a second fail. */
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	struct timeval usec = {0, 1100000};
	SHOW("select, tv_usec 1100000, data ready", select(p[0] + 1, &rd, NULL, NULL, &usec));
	struct timeval neg = {0, -1};
	SHOW("select, tv_usec -1", select(p[0] + 1, &rd, NULL, NULL, &neg));
	struct timespec nsec = {0, 1000000000};
	SHOW("ppoll, tv_nsec 1e9", ppoll(&pfd, 1, &nsec, NULL));
	SHOW("epoll_pwait2, tv_nsec 1e9", syscall(SYS_epoll_pwait2, ep, &ev, 1, &nsec, NULL, 8));
	return 0;
}

/* splice: file to pipe, pipe to file, pipe to pipe, tee and vmsplice,
   their errors, waiting and SIGPIPE. */
static int mode_splice(void) {
	int exe = open("/proc/self/exe", O_RDONLY);
	int null = open("/dev/null", O_WRONLY);
	int p[2], q[2];
	pipe(p);
	pipe(q);
	char want[100], got[200];
	pread(exe, want, sizeof want, 1000);

	loff_t off = 1000;
	SHOW("file to pipe at an offset", splice(exe, &off, p[1], NULL, 100, 0));
	printf("  offset now %ld, file offset %ld\n", (long)off, (long)lseek(exe, 0, SEEK_CUR));
	SHOW("pipe to pipe", splice(p[0], NULL, q[1], NULL, 60, 0));
	SHOW("tee", tee(q[0], p[1], 1000, 0));
	long n = read(q[0], got, sizeof got);
	printf("  the second pipe holds %ld bytes, as in the file: %d\n", n, n == 60 && !memcmp(got, want, 60));
	n = read(p[0], got, sizeof got);
	printf("  the first pipe holds %ld bytes, as in the file: %d\n", n,
	       n == 100 && !memcmp(got, want + 60, 40) && !memcmp(got + 40, want, 60));
	SHOW("file to pipe, file offset", splice(exe, NULL, p[1], NULL, 10, 0));
	printf("  file offset now %ld\n", (long)lseek(exe, 0, SEEK_CUR));
	SHOW("pipe to /dev/null", splice(p[0], NULL, null, NULL, 1000, 0));
	SHOW("empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, null, NULL, 1000, SPLICE_F_NONBLOCK));
	SHOW("zero length", splice(exe, NULL, p[1], NULL, 0, 0));

	SHOW("no pipe", splice(exe, NULL, null, NULL, 10, 0));
	SHOW("offset on the pipe side", splice(exe, NULL, p[1], &off, 10, 0));
	SHOW("same pipe", splice(p[0], NULL, p[1], NULL, 10, 0));
	SHOW("bad flags", splice(exe, NULL, p[1], NULL, 10, 0x100));
	SHOW("bad fd", splice(exe, NULL, 999, NULL, 10, 0));
	SHOW("write end as input", splice(p[1], NULL, null, NULL, 10, 0));
	SHOW("tee to a file", tee(p[0], null, 10, 0));

	struct iovec iov = {"vmsplice", 8};
	SHOW("vmsplice into a pipe", vmsplice(p[1], &iov, 1, 0));
	iov = (struct iovec){got, sizeof got};
	SHOW("vmsplice out of a pipe", vmsplice(p[0], &iov, 1, 0));
	printf("  read %.8s\n", got);
	SHOW("vmsplice on a file", vmsplice(exe, &iov, 1, 0));

	/* Full pipe: SPLICE_F_NONBLOCK fails, a blocking splice waits for a
	   reader. */
	fill(p[1]);
	SHOW("full pipe, SPLICE_F_NONBLOCK", splice(exe, NULL, p[1], NULL, 10, SPLICE_F_NONBLOCK));
	hits = 0;
	drain_fd = p[0];
	feed_after = 0;
	pthread_t d;
	pthread_create(&d, NULL, drainer, NULL);
	SHOW("full pipe, blocking, until a reader drains it", splice(exe, NULL, p[1], NULL, 100, 0));
	void *total;
	pthread_join(d, &total);
	printf("  the reader got %ld bytes\n", (long)(intptr_t)total);

	/* An empty pipe: a blocking splice waits for a writer. (The drainer
	   made the read end O_NONBLOCK, which splice obeys.) */
	SHOW("empty pipe, O_NONBLOCK", splice(p[0], NULL, null, NULL, 1000, 0));
	fcntl(p[0], F_SETFL, 0);
	feed_fd = p[1];
	pthread_t f;
	pthread_create(&f, NULL, write_late, NULL);
	SHOW("empty pipe, blocking, until a writer", splice(p[0], NULL, null, NULL, 1000, 0));
	pthread_join(f, NULL);

	/* No reader: SIGPIPE and EPIPE. */
	handle(SIGPIPE, SIG_IGN, 0);
	close(p[0]);
	SHOW("no reader, SIGPIPE ignored", splice(exe, NULL, p[1], NULL, 10, 0));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_pipe;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGPIPE, &sa, NULL);
	SHOW("no reader, SIGPIPE caught", splice(exe, NULL, p[1], NULL, 10, 0));
	printf("  handler ran %d time(s)\n", pipe_hits);
	SHOW("vmsplice, no reader", vmsplice(p[1], &(struct iovec){"x", 1}, 1, 0));
	printf("  handler ran %d time(s)\n", pipe_hits);
	/* No writer: end of file. */
	close(q[1]);
	SHOW("no writer", splice(q[0], NULL, null, NULL, 10, 0));
	return 0;
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "sigpipe") && argc > 2)
		return mode_sigpipe(argv[2]);
	if (!strcmp(mode, "epipe"))
		return mode_epipe();
	if (!strcmp(mode, "parked"))
		return mode_parked();
	if (!strcmp(mode, "yes")) {
		setvbuf(stdout, NULL, _IOFBF, 0);
		if (argc > 2 && !strcmp(argv[2], "ignore"))
			signal(SIGPIPE, SIG_IGN);
		return mode_yes();
	}
	if (!strcmp(mode, "rw"))
		return mode_rw();
	if (!strcmp(mode, "waits"))
		return mode_waits();
	if (!strcmp(mode, "masks"))
		return mode_masks();
	if (!strcmp(mode, "splice"))
		return mode_splice();
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
