/* splice MODE DIR: splice, tee and vmsplice where Linux's behaviour is easy
   to get wrong. Every mode prints the same bytes natively and in the VM
   when the standard input and output are pipes (as the test runs it,
   with "hello\nworld\nvmsplice\n" on the standard input):

     stdin     the standard input as the pipe it is: splice, tee and
               vmsplice from it wait for data, 0 at the end, ESPIPE for
               an offset; sendfile from it fails
     stdout    the standard output as a pipe: splice, tee and vmsplice
               into it
     vmsplice  vmsplice ignores the fd's O_NONBLOCK (only
               SPLICE_F_NONBLOCK counts), into and out of a pipe
     resize    F_SETPIPE_SZ wakes writers waiting on a full pipe
     nosplice  eventfd and epoll files, which Linux cannot splice
     stdiosize F_GETPIPE_SZ and F_SETPIPE_SZ on the standard streams

   Waits are set up with short sleeps; the output does not depend on
   how long anything takes, except that a writer the resize never wakes
   is given up on after 10 s. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
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

static void ms_sleep(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* quote prints n bytes of buf in quotes, newlines as \n. */
static void quote(const char *buf, long n) {
	putchar('"');
	for (long i = 0; i < n; i++)
		printf(buf[i] == '\n' ? "\\n" : "%c", buf[i]);
	printf("\"\n");
}

/* show_pipe prints what the read end fd holds (it must not be empty). */
static void show_pipe(const char *what, int fd) {
	char buf[256];
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	long n = read(fd, buf, sizeof buf);
	fcntl(fd, F_SETFL, fl);
	printf("  %s holds %ld bytes: ", what, n);
	quote(buf, n > 0 ? n : 0);
}

static const char *dir = "/tmp";

/* A temporary file in dir, open for reading and writing, already
   unlinked. */
static int temp_file(void) {
	char name[4096];
	snprintf(name, sizeof name, "%s/splice-XXXXXX", dir);
	int fd = mkstemp(name);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	unlink(name);
	return fd;
}

/* stdin: the standard input is a pipe; splice, tee and vmsplice treat
   it as one. */
static int mode_stdin(void) {
	int p[2];
	pipe(p);
	int f = temp_file();
	loff_t off = 0;
	SHOW("splice from stdin at an offset", splice(0, &off, p[1], NULL, 10, 0));
	SHOW("sendfile from stdin", sendfile(f, 0, NULL, 10));
	SHOW("sendfile from stdin at an offset", sendfile(f, 0, &off, 10));
	SHOW("sendfile from a pipe", sendfile(f, p[0], NULL, 10));
	/* The first call waits for the data (natively it may be on its
	   way; in the VM nothing was read from the standard input yet). */
	SHOW("splice stdin to a pipe", splice(0, NULL, p[1], NULL, 6, 0));
	show_pipe("the pipe", p[0]);
	SHOW("tee from stdin", tee(0, p[1], 100, 0));
	show_pipe("the pipe", p[0]);
	SHOW("splice stdin to a file", splice(0, NULL, f, NULL, 6, 0));
	SHOW("file offset", lseek(f, 0, SEEK_CUR));
	SHOW("splice stdin to a file at an offset", splice(0, NULL, f, &off, 4, 0));
	printf("  offset now %ld\n", (long)off);
	char buf[64] = {0};
	long n = pread(f, buf, sizeof buf, 0);
	printf("  the file holds %ld bytes: ", n);
	quote(buf, n);
	struct iovec iov[2] = {{buf, 3}, {buf + 3, sizeof buf - 3}};
	n = vmsplice(0, iov, 2, 0);
	printf("vmsplice out of stdin: %ld\n  ", n);
	quote(buf, n);
	/* The end: every call returns 0, also the non-blocking ones. */
	SHOW("splice stdin to a pipe at the end", splice(0, NULL, p[1], NULL, 6, 0));
	SHOW("tee from stdin at the end", tee(0, p[1], 6, 0));
	SHOW("splice stdin to a file at the end", splice(0, NULL, f, NULL, 6, 0));
	SHOW("vmsplice out of stdin at the end", vmsplice(0, iov, 2, 0));
	fcntl(0, F_SETFL, O_NONBLOCK);
	SHOW("O_NONBLOCK, splice stdin to a pipe at the end", splice(0, NULL, p[1], NULL, 6, 0));
	SHOW("SPLICE_F_NONBLOCK, tee at the end", tee(0, p[1], 6, SPLICE_F_NONBLOCK));
	SHOW("read at the end", read(0, buf, sizeof buf));
	return 0;
}

/* stdout: the standard output is a pipe. */
static int mode_stdout(void) {
	int p[2];
	pipe(p);
	int f = temp_file();
	write(f, "from a file\n", 12);
	loff_t off = 0;
	SHOW("splice a file to stdout at an offset", splice(f, &off, 1, NULL, 12, 0));
	printf("  offset now %ld\n", (long)off);
	lseek(f, 5, SEEK_SET);
	SHOW("splice a file to stdout", splice(f, NULL, 1, NULL, 100, 0));
	SHOW("file offset", lseek(f, 0, SEEK_CUR));
	SHOW("splice to stdout at an offset", splice(f, NULL, 1, &off, 12, 0));
	write(p[1], "from a pipe\n", 12);
	SHOW("tee a pipe to stdout", tee(p[0], 1, 100, 0));
	SHOW("splice a pipe to stdout", splice(p[0], NULL, 1, NULL, 100, 0));
	SHOW("empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, 1, NULL, 100, SPLICE_F_NONBLOCK));
	SHOW("empty pipe, SPLICE_F_NONBLOCK, tee", tee(p[0], 1, 100, SPLICE_F_NONBLOCK));
	struct iovec iov[2] = {{"vmsplice ", 9}, {"to stdout\n", 10}};
	SHOW("vmsplice into stdout", vmsplice(1, iov, 2, 0));
	SHOW("tee stdout to a pipe", tee(1, p[1], 10, 0));
	SHOW("splice stdout to a pipe", splice(1, NULL, p[1], NULL, 10, 0));
	return 0;
}

static int drain_fd;
/* Sleeps a little, then reads 65536 bytes from drain_fd. */
static void *drain_64k(void *arg) {
	(void)arg;
	ms_sleep(20);
	static char buf[4096];
	long total = 0;
	while (total < 65536) {
		long n = read(drain_fd, buf, sizeof buf);
		if (n <= 0)
			break;
		total += n;
	}
	return (void *)total;
}

static int feed_fd;
/* Sleeps a little, then writes "late" to feed_fd. */
static void *write_late(void *arg) {
	(void)arg;
	ms_sleep(20);
	write(feed_fd, "late", 4);
	return NULL;
}

/* fill fills the pipe whose write end is fd (64 KiB: the default size
   natively and in the VM). */
static void fill(int fd) {
	static char buf[4096];
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (write(fd, buf, sizeof buf) > 0)
		;
	fcntl(fd, F_SETFL, fl);
}

/* vmsplice: the fd's O_NONBLOCK does not make vmsplice fail with
   EAGAIN; SPLICE_F_NONBLOCK does. */
static int mode_vmsplice(void) {
	int p[2];
	pipe(p);
	fill(p[1]);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	struct iovec x = {"x", 1};
	SHOW("full pipe, SPLICE_F_NONBLOCK", vmsplice(p[1], &x, 1, SPLICE_F_NONBLOCK));
	drain_fd = p[0];
	pthread_t d;
	pthread_create(&d, NULL, drain_64k, NULL);
	SHOW("full pipe, O_NONBLOCK write end, waits for a reader", vmsplice(p[1], &x, 1, 0));
	void *total;
	pthread_join(d, &total);
	printf("  the reader got %ld bytes\n", (long)total);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	show_pipe("the pipe", p[0]);

	char buf[16] = {0};
	struct iovec in = {buf, sizeof buf};
	SHOW("empty pipe, SPLICE_F_NONBLOCK", vmsplice(p[0], &in, 1, SPLICE_F_NONBLOCK));
	feed_fd = p[1];
	pthread_t w;
	pthread_create(&w, NULL, write_late, NULL);
	SHOW("empty pipe, O_NONBLOCK read end, waits for a writer", vmsplice(p[0], &in, 1, 0));
	pthread_join(w, NULL);
	printf("  read ");
	quote(buf, 4);
	return 0;
}

static int resize_fd, resize_exe;
static volatile int wrote_done, spliced_done;
static long wrote, spliced;

static void *blocked_write(void *arg) {
	(void)arg;
	static char buf[100];
	wrote = write(resize_fd, buf, sizeof buf);
	__atomic_store_n(&wrote_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *blocked_splice(void *arg) {
	(void)arg;
	loff_t off = 0;
	spliced = splice(resize_exe, &off, resize_fd, NULL, 100, 0);
	__atomic_store_n(&spliced_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* resize: growing a full pipe lets the writers waiting on it go on. */
static int mode_resize(void) {
	int p[2];
	pipe(p);
	fill(p[1]);
	resize_fd = p[1];
	resize_exe = open("/proc/self/exe", O_RDONLY);
	pthread_t w, s;
	pthread_create(&w, NULL, blocked_write, NULL);
	pthread_create(&s, NULL, blocked_splice, NULL);
	ms_sleep(50); /* both wait for room by now, most likely */
	printf("before the resize: write done %d, splice done %d\n", wrote_done, spliced_done);
	SHOW("F_SETPIPE_SZ 128 KiB", fcntl(p[1], F_SETPIPE_SZ, 128 << 10));
	int i;
	for (i = 0; i < 1000 && !(__atomic_load_n(&wrote_done, __ATOMIC_SEQ_CST) &&
				  __atomic_load_n(&spliced_done, __ATOMIC_SEQ_CST));
	     i++)
		ms_sleep(10);
	printf("after the resize: write done %d, splice done %d\n", wrote_done, spliced_done);
	if (i == 1000) {
		/* Not woken: let them go on by draining the pipe. */
		static char buf[65536];
		read(p[0], buf, sizeof buf);
	}
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	printf("  write returned %ld, splice returned %ld\n", wrote, spliced);
	long total = 0, r;
	static char buf[65536];
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while ((r = read(p[0], buf, sizeof buf)) > 0)
		total += r;
	printf("  the pipe held %ld bytes\n", total);
	return 0;
}

/* nosplice: files without splice_read and splice_write. */
static int mode_nosplice(void) {
	int p[2];
	pipe(p);
	int f = temp_file();
	int ev = eventfd(3, 0), ep = epoll_create1(0);
	SHOW("splice an eventfd to a pipe", splice(ev, NULL, p[1], NULL, 8, 0));
	SHOW("splice an epoll fd to a pipe", splice(ep, NULL, p[1], NULL, 8, 0));
	write(p[1], "12345678", 8);
	SHOW("splice a pipe to an eventfd", splice(p[0], NULL, ev, NULL, 8, 0));
	SHOW("splice a pipe to an epoll fd", splice(p[0], NULL, ep, NULL, 8, 0));
	SHOW("sendfile from an eventfd", sendfile(f, ev, NULL, 8));
	loff_t off = 0;
	SHOW("sendfile from a pipe at an offset, bad out fd", sendfile(999, p[0], &off, 8));
	SHOW("sendfile from a pipe, bad out fd", sendfile(999, p[0], NULL, 8));
	SHOW("sendfile from a pipe to its write end", sendfile(p[1], p[0], NULL, 8));
	SHOW("sendfile from a pipe's write end", sendfile(f, p[1], NULL, 8));
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	SHOW("the pipe still holds", read(p[0], (char[16]){0}, 16));
	SHOW("eventfd count", read(ev, &(unsigned long){0}, 8));
	return 0;
}

/* stdiosize: the standard streams' pipe capacity. */
static int mode_stdiosize(void) {
	SHOW("F_GETPIPE_SZ stdin", fcntl(0, F_GETPIPE_SZ));
	SHOW("F_GETPIPE_SZ stdout", fcntl(1, F_GETPIPE_SZ));
	SHOW("F_SETPIPE_SZ stdout 100000", fcntl(1, F_SETPIPE_SZ, 100000));
	SHOW("F_GETPIPE_SZ stdout", fcntl(1, F_GETPIPE_SZ));
	SHOW("F_SETPIPE_SZ stdin 1", fcntl(0, F_SETPIPE_SZ, 1));
	SHOW("F_GETPIPE_SZ stdin", fcntl(0, F_GETPIPE_SZ));
	SHOW("F_SETPIPE_SZ stdin -1", fcntl(0, F_SETPIPE_SZ, -1));
	SHOW("F_SETPIPE_SZ stdout 2^31+1", fcntl(1, F_SETPIPE_SZ, (1u << 31) + 1));
	char buf[64];
	long n = read(0, buf, sizeof buf);
	printf("stdin still reads: ");
	quote(buf, n);
	printf("\n");
	SHOW("F_GETPIPE_SZ on a file", fcntl(temp_file(), F_GETPIPE_SZ));
	return 0;
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	if (argc > 2)
		dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "stdin"))
		return mode_stdin();
	if (!strcmp(mode, "stdout"))
		return mode_stdout();
	if (!strcmp(mode, "vmsplice"))
		return mode_vmsplice();
	if (!strcmp(mode, "resize"))
		return mode_resize();
	if (!strcmp(mode, "nosplice"))
		return mode_nosplice();
	if (!strcmp(mode, "stdiosize"))
		return mode_stdiosize();
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
