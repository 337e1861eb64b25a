// sandbox tries to write outside the granted directory argv[1] (a
// directory argv[2] beside it holds a file "sentinel"), through every
// route it can think of, and prints the result of each attempt.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *G, *O;

static char *path(const char *a, const char *b) {
	static char bufs[4][4096];
	static int i;
	char *p = bufs[i++ % 4];
	snprintf(p, 4096, "%s/%s", a, b);
	return p;
}

static void result(const char *what, long rc) {
	if (rc < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: ok\n", what);
}

static void try_open(const char *what, const char *p, int flags) {
	int fd = open(p, flags, 0644);
	result(what, fd);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3)
		return 2;
	G = argv[1], O = argv[2];
	char buf[256];

	try_open("write outside", path(O, "sentinel"), O_WRONLY);
	try_open("create outside", path(O, "new"), O_WRONLY | O_CREAT);
	try_open("truncate outside", path(O, "sentinel"), O_RDONLY | O_TRUNC);
	try_open("read outside", path(O, "sentinel"), O_RDONLY);
	try_open("create in grant", path(G, "ok"), O_WRONLY | O_CREAT);
	try_open("dotdot out of grant", path(G, "../sentinel-dir-does-not-matter"), O_WRONLY | O_CREAT);
	char rel[4096];
	snprintf(rel, sizeof rel, "%s/../%s/sentinel", G, strrchr(O, '/') + 1);
	try_open("dotdot to outside file", rel, O_WRONLY);

	result("symlink dir out", symlink(O, path(G, "out")));
	try_open("create through dir symlink", path(G, "out/new"), O_WRONLY | O_CREAT);
	result("mkdir through dir symlink", mkdir(path(G, "out/d"), 0755));
	result("symlink file out", symlink(path(O, "sentinel"), path(G, "lnk")));
	try_open("write through file symlink", path(G, "lnk"), O_WRONLY);
	try_open("create through file symlink", path(G, "lnk"), O_WRONLY | O_CREAT | O_TRUNC);
	result("truncate through symlink", truncate(path(G, "lnk"), 0));
	result("chmod through symlink", chmod(path(G, "lnk"), 0777));
	result("utimes through symlink", utimensat(AT_FDCWD, path(G, "lnk"), NULL, 0));
	result("hardlink outside file", link(path(O, "sentinel"), path(G, "hard")));
	result("hardlink following symlink", linkat(AT_FDCWD, path(G, "lnk"), AT_FDCWD, path(G, "hard2"), AT_SYMLINK_FOLLOW));
	result("symlink to root", symlink("/", path(G, "root")));
	snprintf(rel, sizeof rel, "root%s/sentinel", O);
	try_open("write through root symlink", path(G, rel), O_WRONLY);
	result("symlink dotdot", symlink("..", path(G, "up")));
	try_open("create through dotdot symlink", path(G, "up/escaped"), O_WRONLY | O_CREAT);
	result("symlink magic", symlink("/proc/self/cwd", path(G, "magic")));
	try_open("create through magic symlink", path(G, "magic/escaped"), O_WRONLY | O_CREAT);
	result("symlink in grant", symlink("ok", path(G, "inside")));
	try_open("write through symlink in grant", path(G, "inside"), O_WRONLY);

	result("rename out", rename(path(G, "ok"), path(O, "stolen")));
	result("rename in", rename(path(O, "sentinel"), path(G, "stolen")));
	result("rename grant itself", rename(G, path(O, "grant")));
	result("rmdir grant itself", rmdir(G));
	result("unlink outside", unlink(path(O, "sentinel")));
	result("unlink symlink in grant", unlink(path(G, "lnk")));
	result("access W_OK outside", access(path(O, "sentinel"), W_OK));

	int ro = open(path(O, "sentinel"), O_RDONLY);
	snprintf(buf, sizeof buf, "/proc/self/fd/%d", ro);
	try_open("reopen read-only fd for writing", buf, O_RDWR);
	try_open("reopen read-only fd for reading", buf, O_RDONLY);
	close(ro);
	snprintf(rel, sizeof rel, "/proc/self/root%s/sentinel", O);
	try_open("write through /proc/self/root", rel, O_WRONLY);
	try_open("open /dev/kvm", "/dev/kvm", O_RDWR);
	try_open("open /dev/tty", "/dev/tty", O_RDWR);
	try_open("write /etc/passwd", "/etc/passwd", O_WRONLY | O_APPEND);
	result("socket inet", socket(AF_INET, SOCK_STREAM, 0));
	result("socket unix", socket(AF_UNIX, SOCK_DGRAM, 0));
	int sv[2];
	result("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

	int fd = open(path(O, "sentinel"), O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("sentinel: %s", buf);
	return 0;
}
