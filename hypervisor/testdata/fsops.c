// fsops exercises the file-system calls in a writable directory (argv[1])
// and prints what it sees; the output must be the same natively and in
// the vpmu VM.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#define CHECK(x)                                                              \
	do {                                                                  \
		if (!(x)) {                                                   \
			printf("FAIL line %d: %s: %s\n", __LINE__, #x, strerror(errno)); \
			exit(1);                                              \
		}                                                             \
	} while (0)

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

// listdir prints the sorted names in dir (without . and ..).
static void listdir(const char *dir) {
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	char *names[64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 64) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("ls %s:", dir);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static int pipefd[2];

static void *writer(void *arg) {
	(void)arg;
	char buf[100000];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = 'a' + i % 26;
	// A write larger than the pipe: it blocks until the reader drains it.
	CHECK(write(pipefd[1], buf, sizeof buf) == sizeof buf);
	CHECK(close(pipefd[1]) == 0);
	return NULL;
}

static void pipes(void) {
	CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
	CHECK(fcntl(pipefd[0], F_GETFD) == FD_CLOEXEC);
	printf("pipe flags: %#x %#x\n", fcntl(pipefd[0], F_GETFL), fcntl(pipefd[1], F_GETFL));
	struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
	printf("poll empty: %d\n", poll(&p, 1, 10));
	pthread_t th;
	CHECK(pthread_create(&th, NULL, writer, NULL) == 0);
	// Block in poll, then read everything.
	CHECK(poll(&p, 1, -1) == 1 && (p.revents & POLLIN));
	size_t total = 0;
	unsigned long sum = 0;
	char buf[4096];
	ssize_t n;
	while ((n = read(pipefd[0], buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			sum += (unsigned char)buf[i] * ((total + i) % 7 + 1);
		total += n;
	}
	CHECK(n == 0);
	CHECK(pthread_join(th, NULL) == 0);
	printf("pipe: %zu bytes, sum %lu\n", total, sum);
	p.events = POLLIN;
	int pr = poll(&p, 1, 0);
	printf("poll at eof: %d revents %#x\n", pr, p.revents);
	CHECK(close(pipefd[0]) == 0);

	// Nonblocking, FIONREAD, select, EPIPE.
	CHECK(pipe2(pipefd, O_NONBLOCK) == 0);
	ssize_t rn = read(pipefd[0], buf, 10);
	printf("read empty nonblock: %zd %s\n", rn, strerror(errno));
	CHECK(write(pipefd[1], "hello", 5) == 5);
	int avail = -1;
	CHECK(ioctl(pipefd[0], FIONREAD, &avail) == 0);
	printf("FIONREAD: %d\n", avail);
	fd_set rs, ws;
	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_SET(pipefd[0], &rs);
	FD_SET(pipefd[1], &ws);
	struct timeval tv = {1, 0};
	int r = select(pipefd[1] + 1, &rs, &ws, NULL, &tv);
	printf("select: %d read %d write %d\n", r, FD_ISSET(pipefd[0], &rs), FD_ISSET(pipefd[1], &ws));
	printf("pipe size: %d\n", fcntl(pipefd[0], F_GETPIPE_SZ));
	CHECK(close(pipefd[0]) == 0);
	signal(SIGPIPE, SIG_IGN);
	rn = write(pipefd[1], "x", 1);
	printf("write no reader: %zd %s\n", rn, strerror(errno));
	CHECK(close(pipefd[1]) == 0);
}

static void files(const char *dir) {
	CHECK(chdir(dir) == 0);
	char cwd[4096];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	printf("cwd is dir: %d\n", strcmp(cwd, dir) == 0);
	mode_t old = umask(022);
	printf("umask was set: %d\n", old == umask(022));

	int fd = open("a.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "hello world\n", 12) == 12);
	struct iovec iov[2] = {{"abc", 3}, {"defgh", 5}};
	CHECK(writev(fd, iov, 2) == 8);
	CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
	char buf[64] = {0};
	CHECK(pread(fd, buf, 20, 0) == 20);
	printf("pread: %.20s\n", buf);
	long end = lseek(fd, 0, SEEK_END);
	printf("lseek end: %ld cur after SEEK_SET 3: %ld\n", end, (long)lseek(fd, 3, SEEK_SET));
	memset(buf, 0, sizeof buf);
	char b1[4] = {0}, b2[4] = {0};
	struct iovec riov[2] = {{b1, 3}, {b2, 3}};
	CHECK(readv(fd, riov, 2) == 6);
	printf("readv: %s|%s\n", b1, b2);
	printf("F_GETFL: %#x\n", fcntl(fd, F_GETFL) & ~0100000);
	int avail;
	CHECK(ioctl(fd, FIONREAD, &avail) == 0);
	printf("FIONREAD file: %d\n", avail);
	struct termios tio;
	int rc = ioctl(fd, TCGETS, &tio);
	printf("TCGETS: %d %s\n", rc, strerror(errno));
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	printf("fstat: size %ld mode %o\n", (long)st.st_size, st.st_mode & 07777);
	CHECK(ftruncate(fd, 5) == 0);
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0);
	CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
	CHECK(fstat(fd, &st) == 0);
	printf("after ftruncate: %ld\n", (long)st.st_size);

	// dup family shares the offset; fcntl flags.
	int d = dup(fd);
	CHECK(d > fd);
	CHECK(lseek(fd, 2, SEEK_SET) == 2);
	printf("dup offset: %ld\n", (long)lseek(d, 0, SEEK_CUR));
	CHECK(dup2(fd, 20) == 20);
	CHECK(dup3(fd, 21, O_CLOEXEC) == 21);
	printf("cloexec: %d %d\n", fcntl(20, F_GETFD), fcntl(21, F_GETFD));
	printf("dupfd: %d\n", fcntl(fd, F_DUPFD_CLOEXEC, 30));
	CHECK(fcntl(fd, F_SETFL, O_APPEND) == 0);
	CHECK(write(fd, "Z", 1) == 1);
	CHECK(fstat(fd, &st) == 0);
	printf("append: size %ld flags %#x\n", (long)st.st_size, fcntl(fd, F_GETFL) & ~0100000);
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	CHECK(fcntl(fd, F_SETLK, &lk) == 0);
	CHECK(flock(fd, LOCK_EX) == 0 && flock(fd, LOCK_UN) == 0);
	close(d), close(20), close(21), close(30);

	// sendfile and copy_file_range.
	int out = open("copy.txt", O_CREAT | O_WRONLY | O_EXCL, 0600);
	CHECK(out >= 0);
	off_t off = 0;
	ssize_t sent = sendfile(out, fd, &off, 100);
	printf("sendfile: %zd off %ld\n", sent, (long)off);
	off_t o1 = 1, o2 = 6;
	printf("copy_file_range: %zd\n", copy_file_range(fd, &o1, out, &o2, 3, 0));
	CHECK(close(out) == 0 && close(fd) == 0);
	FILE *f = fopen("copy.txt", "r");
	CHECK(f != NULL);
	memset(buf, 0, sizeof buf);
	fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	printf("copy.txt: %s\n", buf);

	// Names.
	CHECK(mkdir("sub", 0755) == 0);
	rc = mkdir("sub", 0755);
	printf("mkdir again: %d %s\n", rc, strerror(errno));
	CHECK(rename("copy.txt", "sub/moved.txt") == 0);
	CHECK(link("a.txt", "sub/hard") == 0);
	CHECK(symlink("../a.txt", "sub/soft") == 0);
	char target[64] = {0};
	CHECK(readlink("sub/soft", target, sizeof target) == 8);
	printf("readlink: %s\n", target);
	CHECK(stat("sub/soft", &st) == 0);
	printf("stat via symlink: size %ld nlink %ld\n", (long)st.st_size, (long)st.st_nlink);
	CHECK(lstat("sub/soft", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(chmod("a.txt", 0600) == 0);
	CHECK(stat("a.txt", &st) == 0);
	printf("chmod: %o\n", st.st_mode & 07777);
	struct timespec ts[2] = {{1000000000, 0}, {1234567890, 5}};
	CHECK(utimensat(AT_FDCWD, "a.txt", ts, 0) == 0);
	CHECK(stat("a.txt", &st) == 0);
	printf("mtime: %ld.%09ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	struct statx sx;
	CHECK(statx(AT_FDCWD, "a.txt", 0, STATX_SIZE | STATX_MODE, &sx) == 0);
	printf("statx: size %llu mode %o\n", (unsigned long long)sx.stx_size, sx.stx_mode & 07777);
	printf("access W_OK: %d\n", access("a.txt", W_OK));
	CHECK(truncate("sub/hard", 2) == 0);
	listdir(".");
	listdir("sub");
	int dfd = open("sub", O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	CHECK(fchdir(dfd) == 0);
	CHECK(unlinkat(dfd, "soft", 0) == 0);
	CHECK(unlink("hard") == 0 && unlink("moved.txt") == 0);
	CHECK(fstatat(dfd, "..", &st, 0) == 0 && S_ISDIR(st.st_mode));
	CHECK(chdir("..") == 0);
	close(dfd);
	rc = rmdir(".");
	printf("rmdir dot: %d %s\n", rc, strerror(errno));
	CHECK(rmdir("sub") == 0);
	CHECK(unlink("a.txt") == 0);
	listdir(".");
	struct statfs sf;
	CHECK(statfs(".", &sf) == 0);
	printf("statfs rdonly: %ld\n", (long)(sf.f_flags & ST_RDONLY));
}

static void procself(char **argv) {
	const char *exe = argv[0];
	char buf[4096] = {0};
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf);
	CHECK(n > 0);
	char *real = realpath(exe, NULL);
	printf("/proc/self/exe matches: %d\n", strcmp(buf, real) == 0);
	free(real);
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	int stack = 0, exemap = 0;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		stack |= strstr(line, "[stack]") != NULL;
		exemap |= strstr(line, "r-xp") != NULL;
	}
	fclose(f);
	printf("maps: stack %d text %d\n", stack, exemap);
	int fd = open("/proc/self/cmdline", O_RDONLY);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof buf);
	close(fd);
	size_t want = 0;
	for (char **a = argv; *a; a++)
		want += strlen(*a) + 1;
	printf("cmdline: %d\n", n == (ssize_t)want && !strcmp(buf + strlen(buf) + 1, "procself"));
	f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	int threads = 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Threads:", 8))
			threads = atoi(line + 8);
	fclose(f);
	printf("status threads: %d\n", threads);
	fd = open("/dev/null", O_RDONLY);
	CHECK(fd >= 0);
	char fdlink[64];
	snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", fd);
	memset(buf, 0, sizeof buf);
	CHECK(readlink(fdlink, buf, sizeof buf) > 0);
	printf("fd link: %s\n", buf);
	printf("read /dev/null: %zd\n", read(fd, buf, 10));
	close(fd);
	fd = open("/dev/zero", O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, 10) == 10 && buf[0] == 0 && buf[9] == 0);
	close(fd);
	fd = open("/dev/null", O_WRONLY);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	fd = open("/dev/urandom", O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, 16) == 16);
	close(fd);
	CHECK(access("/proc/self/fd/1", F_OK) == 0);
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL);
	int seen = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int n = e->d_name[0] == '.' ? -1 : atoi(e->d_name);
		if (n >= 0 && n <= 2)
			seen |= 1 << n;
		if (n == dirfd(d))
			seen |= 8;
	}
	closedir(d);
	printf("fds listed: %#x\n", seen);
	n = readlink("/proc/self/fd/..", buf, sizeof buf);
	printf("readlink of a directory: %zd %s\n", n, strerror(errno));
	fd = open("/proc/self/nonexistent", O_RDONLY);
	printf("/proc/self/nonexistent: %d %s\n", fd, strerror(errno));
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: fsops files|pipes|procself DIR\n");
		return 2;
	}
	if (!strcmp(argv[1], "files"))
		files(argv[2]);
	else if (!strcmp(argv[1], "pipes"))
		pipes();
	else if (!strcmp(argv[1], "procself"))
		procself(argv);
	printf("done\n");
	return 0;
}
