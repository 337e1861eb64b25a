// memprot: guest accesses after munmap and mprotect fault as on Linux.
// Every check prints one line that does not depend on addresses, so the
// output compares byte for byte with a native run. A SIGSEGV handler
// returns to the probe with siglongjmp; si_code and si_addr are checked
// against what Linux reports.
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { READ, WRITE, EXEC };

static __thread sigjmp_buf jb;
static __thread volatile int fault_code;
static __thread void *volatile fault_addr;
static long pg;

static void on_segv(int sig, siginfo_t *si, void *uc) {
	(void)sig, (void)uc;
	fault_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

// probe does op at p and returns 0, or the si_code of the SIGSEGV it
// raised (with fault_addr set). A read leaves the byte in *out.
static int probe(int op, volatile char *p, char val, char *out) {
	if (sigsetjmp(jb, 1))
		return fault_code;
	switch (op) {
	case READ:
		*out = *p;
		break;
	case WRITE:
		*p = val;
		break;
	case EXEC:
		((void (*)(void))p)();
		break;
	}
	return 0;
}

static const char *code_name(int code) {
	switch (code) {
	case 0:
		return "no fault";
	case SEGV_MAPERR:
		return "SEGV_MAPERR";
	case SEGV_ACCERR:
		return "SEGV_ACCERR";
	}
	return "other";
}

// expect runs op at p and prints the outcome.
static void expect(const char *name, int op, volatile char *p, char val) {
	char got = 0;
	int code = probe(op, p, val, &got);
	if (code == 0) {
		if (op == READ)
			printf("%s: no fault, read %d\n", name, got);
		else
			printf("%s: no fault\n", name);
		return;
	}
	printf("%s: SIGSEGV %s, si_addr %s\n", name, code_name(code), fault_addr == (void *)p ? "right" : "WRONG");
}

static char *map(size_t n, int prot) {
	char *p = mmap(NULL, n, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static void check(int ok, const char *what) {
	if (!ok) {
		printf("FAILED: %s\n", what);
		exit(1);
	}
}

static void single(void) {
	char *p = map(4 * pg, PROT_READ | PROT_WRITE);
	for (int i = 0; i < 4; i++)
		memset(p + i * pg, 'a' + i, pg);

	// munmap: the page faults, its neighbours keep their data.
	check(munmap(p + pg, pg) == 0, "munmap");
	expect("read after munmap", READ, p + pg + 100, 0);
	expect("write after munmap", WRITE, p + pg, 1);
	expect("read of the page below", READ, p + 5, 0);
	expect("read of the page above", READ, p + 2 * pg + 5, 0);

	// PROT_READ: writes fault, reads see the old data.
	check(mprotect(p, pg, PROT_READ) == 0, "mprotect PROT_READ");
	expect("write to PROT_READ", WRITE, p + 8, 'z');
	expect("read of PROT_READ", READ, p + 8, 0);

	// PROT_NONE: reads fault too.
	check(mprotect(p + 2 * pg, pg, PROT_NONE) == 0, "mprotect PROT_NONE");
	expect("read of PROT_NONE", READ, p + 2 * pg + 16, 0);
	expect("write to PROT_NONE", WRITE, p + 2 * pg + 16, 'z');

	// Back to PROT_READ|PROT_WRITE: the data is intact and writable.
	check(mprotect(p, 3 * pg, PROT_READ | PROT_WRITE) == -1, "mprotect over the hole fails");
	check(mprotect(p, pg, PROT_READ | PROT_WRITE) == 0, "mprotect RW");
	check(mprotect(p + 2 * pg, pg, PROT_READ | PROT_WRITE) == 0, "mprotect RW");
	expect("write after re-enabling", WRITE, p + 8, 'y');
	expect("read after re-enabling", READ, p + 8, 0);
	expect("read of the PROT_NONE page after re-enabling", READ, p + 2 * pg + 16, 0);

	// Mapping the hole again: the page reads zero.
	char *q = mmap(p + pg, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check(q == p + pg, "mmap the hole again");
	expect("read of the hole mapped again", READ, q + 100, 0);
	expect("write to the hole mapped again", WRITE, q + 100, 7);

	// MAP_FIXED PROT_NONE over accessible pages.
	check(mmap(p + 3 * pg, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p + 3 * pg, "mmap PROT_NONE");
	expect("read of MAP_FIXED PROT_NONE", READ, p + 3 * pg, 0);
	check(munmap(p, 4 * pg) == 0, "munmap all");

	// No PROT_EXEC: calling into the page faults; PROT_EXEC allows it.
	char *c = map(pg, PROT_READ | PROT_WRITE);
	c[0] = (char)0xc3; // ret
	expect("exec of PROT_READ|PROT_WRITE", EXEC, c, 0);
	check(mprotect(c, pg, PROT_READ | PROT_EXEC) == 0, "mprotect RX");
	expect("exec of PROT_READ|PROT_EXEC", EXEC, c, 0);
	expect("write to PROT_READ|PROT_EXEC", WRITE, c, 0);
	check(mprotect(c, pg, PROT_READ | PROT_WRITE) == 0, "mprotect RW");
	expect("exec after dropping PROT_EXEC", EXEC, c, 0);
	munmap(c, pg);

	// brk shrinking: the released heap page faults.
	char *b0 = sbrk(0);
	char *top = (char *)(((unsigned long)b0 + 2 * pg) & ~(pg - 1));
	check(brk(top) == 0, "brk grow");
	top[-1] = 1;
	check(brk(top - pg) == 0, "brk shrink");
	expect("read after brk shrank", READ, top - 1, 0);
}

static void *guard_thread(void *arg) {
	char *guard = arg;
	expect("read of a thread's guard page", READ, guard + pg - 1, 0);
	expect("write to a thread's guard page", WRITE, guard, 1);
	return NULL;
}

static void *guard_default(void *arg) {
	(void)arg;
	pthread_attr_t a;
	void *lo;
	size_t size, guard;
	check(pthread_getattr_np(pthread_self(), &a) == 0, "pthread_getattr_np");
	pthread_attr_getstack(&a, &lo, &size);
	pthread_attr_getguardsize(&a, &guard);
	check(guard >= (size_t)pg, "guard size");
	expect("read of the default guard page", READ, (char *)lo - 1, 0);
	return NULL;
}

static void thread_guards(void) {
	pthread_t th;
	check(pthread_create(&th, NULL, guard_default, NULL) == 0, "pthread_create");
	pthread_join(th, NULL);

	// A stack whose lowest page was accessible, then made the guard.
	size_t n = 64 * pg;
	char *s = map(n, PROT_READ | PROT_WRITE);
	memset(s, 1, n);
	check(mprotect(s, pg, PROT_NONE) == 0, "mprotect guard");
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstack(&a, s + pg, n - pg);
	check(pthread_create(&th, &a, guard_thread, s) == 0, "pthread_create");
	pthread_join(th, NULL);
	munmap(s, n);
}

// The racing checks: one thread keeps touching a page while another
// takes access away. Once mprotect or munmap has returned, the next
// access must fault, on whichever CPU the toucher runs.
static volatile char *race_page;
static atomic_int race_started, race_taken;
static int race_op;

static void *toucher(void *arg) {
	(void)arg;
	char got;
	long n;
	for (n = 0;; n++) {
		int taken = atomic_load(&race_taken);
		int code = probe(race_op, race_page, 'w', &got);
		if (code != 0) {
			// A fault before the change returned is fine too.
			printf("racing %s: SIGSEGV %s, si_addr %s\n", race_op == READ ? "reader" : "writer",
			       code_name(code), fault_addr == (void *)race_page ? "right" : "WRONG");
			return NULL;
		}
		if (taken) {
			printf("racing %s: access succeeded after the change returned\n", race_op == READ ? "reader" : "writer");
			return NULL;
		}
		if (n == 1000)
			atomic_store(&race_started, 1);
	}
}

static void race(int op, int how) {
	char *p = map(pg, PROT_READ | PROT_WRITE);
	memset(p, 'r', pg);
	race_page = p + 64;
	race_op = op;
	atomic_store(&race_started, 0);
	atomic_store(&race_taken, 0);
	pthread_t th;
	check(pthread_create(&th, NULL, toucher, NULL) == 0, "pthread_create");
	while (!atomic_load(&race_started))
		;
	if (how == 0)
		check(munmap(p, pg) == 0, "munmap");
	else
		check(mprotect(p, pg, how == 1 ? PROT_READ : PROT_NONE) == 0, "mprotect");
	atomic_store(&race_taken, 1);
	pthread_join(th, NULL);
	if (how == 1)
		printf("  data after write-protect: %c\n", p[64]);
	if (how != 0)
		munmap(p, pg);
}

int main(int argc, char **argv) {
	(void)argc, (void)argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	pg = sysconf(_SC_PAGESIZE);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	single();
	thread_guards();
	race(READ, 0);
	race(WRITE, 1);
	race(READ, 2);
	printf("done\n");
	return 0;
}
