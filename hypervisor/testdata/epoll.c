/* epoll MODE: eventfd and epoll semantics, printed so that the native
   and the VM run compare byte for byte. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static int efd_write(int fd, uint64_t v) { return write(fd, &v, 8) == 8 ? 0 : -1; }

static long efd_read(int fd) {
	uint64_t v;
	ssize_t n = read(fd, &v, 8);
	return n == 8 ? (long)v : -1;
}

static void show(const char *what, int epfd, int timeout) {
	struct epoll_event ev[4];
	int n = epoll_wait(epfd, ev, 4, timeout);
	int e = errno;
	printf("%s: %d", what, n);
	if (n < 0)
		printf(" %s", strerror(e));
	for (int i = 0; i < n; i++)
		printf(" [%#x data %lu]", ev[i].events, (unsigned long)ev[i].data.u64);
	printf("\n");
}

static int mode_eventfd(void) {
	int fd = eventfd(3, EFD_NONBLOCK);
	CHECK("read 3", efd_read(fd));
	CHECK("read empty", efd_read(fd));
	efd_write(fd, 5);
	efd_write(fd, 6);
	CHECK("read sum", efd_read(fd));
	char small[4];
	CHECK("short read", read(fd, small, 4));
	uint64_t bad = UINT64_MAX;
	CHECK("write max", write(fd, &bad, 8));
	bad = UINT64_MAX - 1;
	CHECK("write max-1", write(fd, &bad, 8));
	CHECK("overflow", write(fd, &(uint64_t){1}, 8));
	CHECK("read big", efd_read(fd) == (long)(UINT64_MAX - 1));
	close(fd);
	fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	CHECK("semaphore 1", efd_read(fd));
	CHECK("semaphore 2", efd_read(fd));
	CHECK("semaphore empty", efd_read(fd));
	CHECK("bad flags", eventfd(0, 0x4));
	return 0;
}

static int waiter_fd;
static void *writer(void *arg) {
	(void)arg;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	efd_write(waiter_fd, 1);
	return NULL;
}

static void on_usr1(int sig) { (void)sig; }
static pthread_t main_thread;
static void *interrupter(void *arg) {
	(void)arg;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

static int mode_epoll(const char *self) {
	CHECK("epoll_create(0)", epoll_create(0));
	CHECK("epoll_create1(bad)", epoll_create1(1));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int fd = eventfd(0, EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
	CHECK("add", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	CHECK("add again", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	CHECK("add self", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
	int reg = open(self, O_RDONLY);
	CHECK("add regular file", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev));
	CHECK("mod missing", epoll_ctl(ep, EPOLL_CTL_MOD, reg, &ev));
	CHECK("add bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev));
	CHECK("bad op", epoll_ctl(ep, 9, fd, &ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	CHECK("mod exclusive", epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	CHECK("maxevents 0", epoll_wait(ep, &ev, 0, 0));
	CHECK("not epoll", epoll_wait(fd, &ev, 1, 0));
	show("nothing ready", ep, 0);
	show("timeout 20ms", ep, 20);
	efd_write(fd, 1);
	show("level 1", ep, 0);
	show("level 2", ep, 0);
	efd_read(fd);
	show("drained", ep, 0);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ev.data.u64 = 8;
	CHECK("mod edge", epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	show("edge 1", ep, 0);
	show("edge 2", ep, 0);
	efd_write(fd, 1);
	show("edge after write", ep, 0);
	show("edge again", ep, 0);
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = 9;
	CHECK("mod oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	show("oneshot 1", ep, 0);
	show("oneshot 2", ep, 0);
	CHECK("rearm", epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	show("rearmed", ep, 0);

	/* Nesting: an epoll inside an epoll. */
	int outer = epoll_create1(0);
	struct epoll_event oev = {.events = EPOLLIN, .data.u64 = 10};
	ev.events = EPOLLIN;
	ev.data.u64 = 11;
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	CHECK("nest", epoll_ctl(outer, EPOLL_CTL_ADD, ep, &oev));
	CHECK("loop", epoll_ctl(ep, EPOLL_CTL_ADD, outer, &oev));
	show("outer sees inner", outer, 0);
	efd_read(fd);
	show("outer after drain", outer, 0);
	CHECK("del", epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL));
	CHECK("del again", epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL));

	/* Another thread's write wakes a blocked wait. */
	ev.events = EPOLLIN;
	ev.data.u64 = 12;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	waiter_fd = fd;
	pthread_t t;
	pthread_create(&t, NULL, writer, NULL);
	show("woken by a writer", ep, -1);
	pthread_join(t, NULL);
	efd_read(fd);

	/* A handled signal interrupts epoll_wait, even with SA_RESTART. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	main_thread = pthread_self();
	pthread_create(&t, NULL, interrupter, NULL);
	show("interrupted", ep, -1);
	pthread_join(t, NULL);

	/* epoll_pwait with the signal blocked: the wait times out instead. */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	pthread_create(&t, NULL, interrupter, NULL);
	struct epoll_event evs[2];
	int n = epoll_pwait(ep, evs, 2, 100, &block);
	printf("pwait with SIGUSR1 blocked: %d\n", n);
	pthread_join(t, NULL);
	close(fd);
	show("after close", ep, 0);
	return 0;
}

static void show_flags(const char *what, int fd) {
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
	printf("%s: F_GETFL accmode %d nonblock %d, FD_CLOEXEC %d\n", what, fl & O_ACCMODE, (fl & O_NONBLOCK) != 0,
	       (fdfl & FD_CLOEXEC) != 0);
}

static int later_fd;
static uint64_t later_value;
static void *write_later(void *arg) {
	(void)arg;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	efd_write(later_fd, later_value);
	return NULL;
}

static void *read_later(void *arg) {
	(void)arg;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	later_value = (uint64_t)efd_read(later_fd);
	return NULL;
}

static volatile int stop_pestering;
static void *pester(void *arg) {
	(void)arg;
	while (!stop_pestering) {
		pthread_kill(main_thread, SIGUSR1);
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* eventfd-flags: EFD_NONBLOCK and EFD_CLOEXEC are the open file's
   O_NONBLOCK and the fd's FD_CLOEXEC, which fcntl and FIONBIO change;
   a blocking write that would overflow the count waits for a read. */
static int mode_eventfd_flags(void) {
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	show_flags("EFD_NONBLOCK|EFD_CLOEXEC", fd);
	CHECK("read, nonblocking", efd_read(fd));
	CHECK("F_SETFL 0", fcntl(fd, F_SETFL, 0));
	show_flags("after F_SETFL 0", fd);
	later_fd = fd;
	later_value = 5;
	pthread_t t;
	pthread_create(&t, NULL, write_later, NULL);
	CHECK("read, now blocking, woken by a writer", efd_read(fd));
	pthread_join(t, NULL);
	CHECK("F_SETFD 0", fcntl(fd, F_SETFD, 0));
	show_flags("after F_SETFD 0", fd);
	close(fd);

	fd = eventfd(0, 0);
	show_flags("no flags", fd);
	CHECK("F_SETFL O_NONBLOCK", fcntl(fd, F_SETFL, O_NONBLOCK));
	show_flags("after F_SETFL O_NONBLOCK", fd);
	CHECK("read, nonblocking again", efd_read(fd));
	int off = 0;
	CHECK("FIONBIO 0", ioctl(fd, FIONBIO, &off));
	show_flags("after FIONBIO 0", fd);

	/* The count at its maximum: a nonblocking write that would overflow
	   fails, a blocking one waits for a read. */
	CHECK("write max-1", efd_write(fd, UINT64_MAX - 1));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	CHECK("overflow, nonblocking", write(fd, &(uint64_t){1}, 8));
	fcntl(fd, F_SETFL, 0);
	later_fd = fd;
	pthread_create(&t, NULL, read_later, NULL);
	CHECK("overflow, blocking, until a read", write(fd, &(uint64_t){7}, 8));
	pthread_join(t, NULL);
	printf("the reader took max-1: %d\n", later_value == UINT64_MAX - 1);
	CHECK("then the count", efd_read(fd));

	/* A blocking write interrupted by a handler: EINTR. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	efd_write(fd, UINT64_MAX - 1);
	main_thread = pthread_self();
	stop_pestering = 0;
	pthread_create(&t, NULL, pester, NULL);
	CHECK("overflow, blocking, interrupted", write(fd, &(uint64_t){1}, 8));
	stop_pestering = 1;
	pthread_join(t, NULL);
	close(fd);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	show_flags("epoll_create1(EPOLL_CLOEXEC)", ep);
	close(ep);
	return 0;
}

static void show_events(const char *what, int epfd) {
	struct epoll_event ev[4];
	int n = epoll_wait(epfd, ev, 4, 0);
	printf("%s:", what);
	if (n == 0)
		printf(" nothing");
	for (int i = 0; i < n; i++) {
		printf(" [%s", ev[i].data.u64 == 1 ? "read end" : "write end");
		static const struct {
			unsigned bit;
			const char *name;
		} bits[] = {{EPOLLIN, "IN"}, {EPOLLOUT, "OUT"}, {EPOLLERR, "ERR"}, {EPOLLHUP, "HUP"},
		            {EPOLLRDNORM, "RDNORM"}, {EPOLLWRNORM, "WRNORM"}, {EPOLLRDHUP, "RDHUP"}};
		for (unsigned b = 0; b < sizeof bits / sizeof bits[0]; b++)
			if (ev[i].events & bits[b].bit)
				printf(" %s", bits[b].name);
		printf("]");
	}
	printf("\n");
}

static int pipe_fd;
static void *close_later(void *arg) {
	(void)arg;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	close(pipe_fd);
	return NULL;
}

static void *pipe_write_later(void *arg) {
	(void)arg;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	write(pipe_fd, "wake", 4);
	return NULL;
}

/* pipes: epoll over both ends of a pipe, level- and edge-triggered:
   EPOLLIN, EPOLLOUT, EPOLLHUP when the writer goes, EPOLLERR when the
   reader goes, and waits that a write or a close ends. */
static int mode_pipes(void) {
	int p[2];
	pipe(p);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	ev.events = EPOLLOUT;
	ev.data.u64 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev);
	show_events("level, empty", ep);
	write(p[1], "abc", 3);
	show_events("level, 3 bytes", ep);
	show_events("level, again", ep);
	char buf[65536];
	read(p[0], buf, sizeof buf);
	show_events("level, drained", ep);

	/* Edge-triggered: an event per change, not per wait. */
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	ev.events = EPOLLOUT | EPOLLET;
	ev.data.u64 = 2;
	epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev);
	show_events("edge, after MOD", ep);
	show_events("edge, again", ep);
	write(p[1], "abc", 3);
	show_events("edge, after a write", ep);
	show_events("edge, again", ep);
	write(p[1], "def", 3);
	show_events("edge, after a second write", ep);
	read(p[0], buf, sizeof buf);
	show_events("edge, after draining", ep);

	/* Full: no EPOLLOUT until a read makes room. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	while (write(p[1], buf, 4096) > 0)
		;
	show_events("edge, full", ep);
	show_events("edge, full, again", ep);
	read(p[0], buf, sizeof buf);
	show_events("edge, after draining a full pipe", ep);

	/* A blocking wait that a write ends. */
	pipe_fd = p[1];
	pthread_t t;
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
	pthread_create(&t, NULL, pipe_write_later, NULL);
	struct epoll_event got;
	int n = epoll_wait(ep, &got, 1, -1);
	printf("woken by a write: %d events %#x\n", n, got.events);
	pthread_join(t, NULL);
	read(p[0], buf, sizeof buf);

	/* The writer goes while a wait is blocked: EPOLLHUP. */
	pthread_create(&t, NULL, close_later, NULL);
	n = epoll_wait(ep, &got, 1, -1);
	printf("woken by the writer's close: %d events %#x\n", n, got.events);
	pthread_join(t, NULL);
	show_events("level, no writer", ep);

	/* The reader goes: EPOLLERR on the write end. */
	int q[2];
	pipe(q);
	ev.events = EPOLLOUT | EPOLLET;
	ev.data.u64 = 2;
	epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
	epoll_ctl(ep, EPOLL_CTL_ADD, q[1], &ev);
	show_events("edge, new write end", ep);
	close(q[0]);
	show_events("edge, reader closed", ep);
	show_events("edge, again", ep);
	ev.events = EPOLLOUT;
	epoll_ctl(ep, EPOLL_CTL_MOD, q[1], &ev);
	show_events("level, reader closed", ep);
	close(q[1]);
	close(p[0]);
	close(ep);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "eventfd"))
		return mode_eventfd();
	if (!strcmp(mode, "epoll"))
		return mode_epoll(argv[0]);
	if (!strcmp(mode, "eventfd-flags"))
		return mode_eventfd_flags();
	if (!strcmp(mode, "pipes"))
		return mode_pipes();
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
