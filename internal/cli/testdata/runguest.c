// runguest is the program the vpmu run tests run in the hypervisor.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	const char *mode = argv[1];
	if (!strcmp(mode, "io")) {
		// Copy stdin to stdout; count the bytes on stderr.
		char buf[65536];
		ssize_t n;
		long total = 0;
		while ((n = read(0, buf, sizeof buf)) > 0) {
			if (write(1, buf, n) != n)
				return 1;
			total += n;
		}
		fprintf(stderr, "copied %ld bytes\n", total);
		return 0;
	}
	if (!strcmp(mode, "env")) {
		for (char **e = environ; *e; e++)
			printf("%s\n", *e);
		return 0;
	}
	if (!strcmp(mode, "exit") && argc > 2)
		return atoi(argv[2]);
	if (!strcmp(mode, "segv")) {
		printf("about to crash\n");
		fflush(stdout);
		return *(volatile int *)8;
	}
	if (!strcmp(mode, "write") && argc > 2) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			printf("write %s: %s\n", argv[2], strerrorname_np(errno));
			return 1;
		}
		write(fd, "written by the guest\n", 21);
		close(fd);
		printf("write %s: ok\n", argv[2]);
		return 0;
	}
	if (!strcmp(mode, "socket")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		printf("socket: %s\n", s < 0 ? strerrorname_np(errno) : "ok");
		return s < 0;
	}
	if (!strcmp(mode, "sleep")) {
		printf("sleeping\n");
		fflush(stdout);
		sleep(60);
		return 0;
	}
	if (!strcmp(mode, "yes")) {
		// "y" lines until a write fails (yes | head -1); with "ignore",
		// SIGPIPE is ignored and the failure reported.
		if (argc > 2 && !strcmp(argv[2], "ignore"))
			signal(SIGPIPE, SIG_IGN);
		for (;;) {
			if (write(1, "y\n", 2) != 2) {
				fprintf(stderr, "yes: %s\n", strerror(errno));
				return 3;
			}
		}
	}
	if (!strcmp(mode, "memhog")) {
		for (size_t mib = 0;; mib++) {
			char *p = malloc(1 << 20);
			if (p == NULL) {
				fprintf(stderr, "memhog: malloc failed after %zu MiB: %s\n", mib, strerror(errno));
				return 3;
			}
			memset(p, 1, 1 << 20);
		}
	}
	return 2;
}
