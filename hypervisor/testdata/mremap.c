// mremap: shrinking, growing in place, moving (MREMAP_MAYMOVE, MREMAP_FIXED,
// MREMAP_DONTUNMAP), the errors Linux gives, and glibc's realloc of a large
// block, which uses mremap. Every line is independent of addresses and
// timing, so the output compares byte for byte with a native run. Old
// ranges are probed with a SIGSEGV handler that returns with siglongjmp.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static __thread sigjmp_buf jb;
static __thread volatile int fault_code;
static long pg;

static void on_segv(int sig, siginfo_t *si, void *uc) {
	(void)sig, (void)uc;
	fault_code = si->si_code;
	siglongjmp(jb, 1);
}

// probe reads (write = 0) or writes p and returns the outcome.
static const char *probe(volatile char *p, int write, char *out) {
	if (sigsetjmp(jb, 1))
		return fault_code == SEGV_MAPERR ? "SIGSEGV SEGV_MAPERR" : fault_code == SEGV_ACCERR ? "SIGSEGV SEGV_ACCERR" : "SIGSEGV other";
	if (write)
		*p = 1;
	else
		*out = *p;
	return "no fault";
}

static void expect_read(const char *name, volatile char *p) {
	char got = 0;
	const char *r = probe(p, 0, &got);
	if (strcmp(r, "no fault") == 0)
		printf("%s: read %d\n", name, got);
	else
		printf("%s: %s\n", name, r);
}

static void expect_write(const char *name, volatile char *p) {
	printf("%s: %s\n", name, probe(p, 1, NULL));
}

static const char *errname(int e) {
	switch (e) {
	case EINVAL:
		return "EINVAL";
	case EFAULT:
		return "EFAULT";
	case ENOMEM:
		return "ENOMEM";
	case EPERM:
		return "EPERM";
	case EAGAIN:
		return "EAGAIN";
	}
	return "other";
}

// err prints the errno of a mremap expected to fail.
static void err(const char *name, void *r) {
	if (r != MAP_FAILED) {
		printf("%s: succeeded\n", name);
		return;
	}
	printf("%s: %s\n", name, errname(errno));
}

static char *map(void *hint, size_t n, int prot, int flags) {
	char *p = mmap(hint, n, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

// fill writes a pattern that depends on the page and offset.
static void fill(char *p, size_t n, int seed) {
	for (size_t i = 0; i < n; i += 512)
		p[i] = (char)(i / 512 * 7 + seed);
}

// same reports whether p holds fill's pattern for n bytes.
static int same(const char *p, size_t n, int seed) {
	for (size_t i = 0; i < n; i += 512)
		if (p[i] != (char)(i / 512 * 7 + seed))
			return 0;
	return 1;
}

// zero reports whether n bytes at p are all zero.
static int zero(const char *p, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

// reserve returns n free bytes of address space, with a guard page of
// PROT_NONE on each side so that nothing else is placed next to them.
static char *reserve(size_t n) {
	char *p = map(NULL, n + 2 * pg, PROT_NONE, 0);
	munmap(p + pg, n);
	return p + pg;
}

static void shrink(void) {
	char *p = map(NULL, 4 * pg, PROT_READ | PROT_WRITE, 0);
	fill(p, 4 * pg, 1);
	char *q = mremap(p, 4 * pg, 2 * pg, 0, NULL);
	printf("shrink: %s, contents %s\n", q == p ? "in place" : "MOVED", same(q, 2 * pg, 1) ? "kept" : "LOST");
	expect_read("shrink: read of the dropped tail", p + 3 * pg);
	// A shrink whose old range runs past the mapping still succeeds
	// and unmaps the tail.
	q = mremap(p, 8 * pg, pg, 0, NULL);
	printf("shrink past the end: %s\n", q == p ? "in place" : q == MAP_FAILED ? errname(errno) : "MOVED");
	expect_read("shrink: read of page 1 after the second shrink", p + pg);
	q = mremap(p, pg, pg, 0, NULL);
	printf("same size: %s\n", q == p ? "unchanged" : "CHANGED");
	munmap(p, pg);
}

static void grow_in_place(void) {
	char *r = reserve(8 * pg);
	char *p = map(r, 2 * pg, PROT_READ | PROT_WRITE, MAP_FIXED);
	fill(p, 2 * pg, 2);
	char *q = mremap(p, 2 * pg, 6 * pg, 0, NULL);
	printf("grow in place: %s, contents %s, new pages %s\n", q == p ? "same address" : q == MAP_FAILED ? errname(errno) : "MOVED",
	       same(p, 2 * pg, 2) ? "kept" : "LOST", zero(p + 2 * pg, 4 * pg) ? "zero" : "NOT ZERO");
	expect_write("grow in place: write to the last new page", p + 6 * pg - 1);
	// Blocked by a mapping after it and not allowed to move.
	map(p + 7 * pg, pg, PROT_READ, MAP_FIXED);
	err("grow into a mapping without MAYMOVE", mremap(p, 6 * pg, 8 * pg, 0, NULL));
	// Growing a range that does not reach the end of its mapping.
	err("grow a middle range without MAYMOVE", mremap(p, 2 * pg, 3 * pg, 0, NULL));
	munmap(r - pg, 10 * pg);
}

static void grow_move(void) {
	char *r = reserve(4 * pg);
	char *p = map(r, 3 * pg, PROT_READ | PROT_WRITE, MAP_FIXED);
	map(p + 3 * pg, pg, PROT_READ, MAP_FIXED); // in the way
	fill(p, 3 * pg, 3);
	char *q = mremap(p, 3 * pg, 64 * pg, MREMAP_MAYMOVE, NULL);
	if (q == MAP_FAILED) {
		printf("grow with MAYMOVE: %s\n", errname(errno));
		return;
	}
	printf("grow with MAYMOVE: %s, contents %s, new pages %s\n", q == p ? "NOT MOVED" : "moved", same(q, 3 * pg, 3) ? "kept" : "LOST",
	       zero(q + 3 * pg, 61 * pg) ? "zero" : "NOT ZERO");
	expect_read("grow with MAYMOVE: read of the old address", p);
	expect_write("grow with MAYMOVE: write to the old address", p + 2 * pg);
	expect_write("grow with MAYMOVE: write to the new end", q + 64 * pg - 1);
	// A read-only mapping moves with its protection.
	char *ro = map(NULL, 2 * pg, PROT_READ | PROT_WRITE, 0);
	fill(ro, 2 * pg, 4);
	mprotect(ro, 2 * pg, PROT_READ);
	char *r2 = reserve(2 * pg);
	char *q2 = mremap(ro, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, r2);
	printf("move read-only: %s, contents %s\n", q2 == r2 ? "at new_address" : "WRONG", same(r2, 2 * pg, 4) ? "kept" : "LOST");
	expect_write("move read-only: write to the new address", r2);
	// A middle range of a mapping moves out of it, leaving a hole.
	char *m = map(NULL, 5 * pg, PROT_READ | PROT_WRITE, 0);
	fill(m, 5 * pg, 5);
	char *q3 = mremap(m + pg, 2 * pg, 4 * pg, MREMAP_MAYMOVE, NULL);
	if (q3 == MAP_FAILED) {
		printf("move a middle range: %s\n", errname(errno));
		exit(1);
	}
	printf("move a middle range: %s\n", q3 == m + pg ? "NOT MOVED" : "moved");
	int ok = 1;
	for (size_t i = 0; i < 2 * (size_t)pg; i += 512)
		ok &= q3[i] == (char)((i + pg) / 512 * 7 + 5);
	printf("move a middle range: moved pages %s\n", ok ? "kept" : "LOST");
	expect_read("move a middle range: read of the hole", m + 2 * pg);
	expect_read("move a middle range: read after the hole", m + 3 * pg);
	munmap(q, 64 * pg);
	munmap(r2, 2 * pg);
	munmap(m, 5 * pg);
	munmap(q3, 4 * pg);
}

static void fixed(void) {
	char *p = map(NULL, 2 * pg, PROT_READ | PROT_WRITE, 0);
	fill(p, 2 * pg, 6);
	// The target holds a mapping, which is replaced.
	char *t = map(NULL, 4 * pg, PROT_READ | PROT_WRITE, 0);
	memset(t, 0x55, 4 * pg);
	char *q = mremap(p, 2 * pg, 3 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	printf("FIXED over a mapping: %s, contents %s, grown page %s, page after %s\n", q == t ? "at new_address" : q == MAP_FAILED ? errname(errno) : "WRONG",
	       same(t, 2 * pg, 6) ? "kept" : "LOST", zero(t + 2 * pg, pg) ? "zero" : "NOT ZERO", t[3 * pg] == 0x55 ? "untouched" : "CHANGED");
	expect_read("FIXED: read of the old address", p);
	// FIXED shrinking: the old tail is unmapped first.
	char *u = reserve(pg);
	q = mremap(t, 3 * pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, u);
	printf("FIXED shrink: %s, contents %s\n", q == u ? "at new_address" : "WRONG", same(u, pg, 6) ? "kept" : "LOST");
	expect_read("FIXED shrink: read of the old tail", t + 2 * pg);
	err("FIXED without MAYMOVE", mremap(u, pg, pg, MREMAP_FIXED, t));
	err("FIXED overlapping", mremap(u, pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, u));
	err("FIXED unaligned new_address", mremap(u, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, t + 1));
	err("FIXED past TASK_SIZE", mremap(u, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x7ffffffff000));
	munmap(u, pg);
	munmap(t + 3 * pg, pg);
}

static void dontunmap(void) {
	char *p = map(NULL, 3 * pg, PROT_READ | PROT_WRITE, 0);
	fill(p, 3 * pg, 7);
	char *q = mremap(p, 3 * pg, 3 * pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	if (q == MAP_FAILED) {
		printf("DONTUNMAP: %s\n", errname(errno));
		return;
	}
	printf("DONTUNMAP: %s, contents %s, old range %s\n", q == p ? "NOT MOVED" : "moved", same(q, 3 * pg, 7) ? "kept" : "LOST",
	       zero(p, 3 * pg) ? "reads zero" : "NOT ZERO");
	expect_write("DONTUNMAP: write to the old range", p + pg);
	printf("DONTUNMAP: new range %s by the write\n", same(q, 3 * pg, 7) ? "unchanged" : "CHANGED");
	char *u = reserve(3 * pg);
	char *q2 = mremap(q, 3 * pg, 3 * pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, u);
	printf("DONTUNMAP|FIXED: %s, contents %s, old range %s\n", q2 == u ? "at new_address" : q2 == MAP_FAILED ? errname(errno) : "WRONG",
	       same(u, 3 * pg, 7) ? "kept" : "LOST", zero(q, 3 * pg) ? "reads zero" : "NOT ZERO");
	err("DONTUNMAP resizing", mremap(p, 3 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
	err("DONTUNMAP without MAYMOVE", mremap(p, 3 * pg, 3 * pg, MREMAP_DONTUNMAP, NULL));
	munmap(p, 3 * pg);
	munmap(q, 3 * pg);
	munmap(u, 3 * pg);
}

static void errors(void) {
	char *p = map(reserve(2 * pg), 2 * pg, PROT_READ | PROT_WRITE, MAP_FIXED);
	char *hole = reserve(pg);
	err("unaligned old_address", mremap(p + 1, pg, 2 * pg, MREMAP_MAYMOVE, NULL));
	err("unknown flag", mremap(p, pg, 2 * pg, 8, NULL));
	err("new_size 0", mremap(p, pg, 0, MREMAP_MAYMOVE, NULL));
	err("nothing mapped at old_address", mremap(hole, pg, 2 * pg, MREMAP_MAYMOVE, NULL));
	err("old range past the mapping", mremap(p, 3 * pg, 4 * pg, MREMAP_MAYMOVE, NULL));
	err("old_size 0 of a private mapping", mremap(p, 0, pg, MREMAP_MAYMOVE, NULL));
	err("DONTUNMAP unaligned new_address hint", mremap(p, pg, pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, (void *)1));
	// Two adjacent mappings with different protection are two VMAs.
	mprotect(p + pg, pg, PROT_READ);
	err("old range across two mappings", mremap(p, 2 * pg, 4 * pg, MREMAP_MAYMOVE, NULL));
	err("huge new_size", mremap(p, pg, (size_t)1 << 47, MREMAP_MAYMOVE, NULL));
	munmap(p, 2 * pg);
}

// shared_and_multi moves a shared anonymous mapping and, with MREMAP_FIXED and no
// resize, a range of several mappings with a gap (Linux 6.17 and later).
static void shared_and_multi(void) {
	// Linux does not grow the object behind a shared anonymous mapping,
	// so pages it gains by mremap raise SIGBUS: move it without growing.
	char *s = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fill(s, 2 * pg, 8);
	char *r = reserve(2 * pg);
	char *q = mremap(s, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	printf("shared move with FIXED: %s, contents %s\n", q == r ? "at new_address" : q == MAP_FAILED ? errname(errno) : "WRONG",
	       q == r && same(r, 2 * pg, 8) ? "kept" : "LOST");
	expect_read("shared move with FIXED: read of the old address", s);
	q = mremap(r, 2 * pg, pg, 0, NULL);
	printf("shared shrink: %s\n", q == r ? "in place" : "WRONG");
	expect_read("shared shrink: read of the dropped page", r + pg);
	munmap(r - pg, 4 * pg);

	// [a, a+6): RW pages 0-1, RO page 2, hole at 3, RW pages 4-5.
	char *a = map(reserve(6 * pg), 6 * pg, PROT_READ | PROT_WRITE, MAP_FIXED);
	fill(a, 6 * pg, 9);
	mprotect(a + 2 * pg, pg, PROT_READ);
	munmap(a + 3 * pg, pg);
	char *d = reserve(6 * pg);
	map(d + 3 * pg, pg, PROT_READ | PROT_WRITE, MAP_FIXED)[0] = 42; // under the hole's destination
	q = mremap(a, 6 * pg, 6 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, d);
	if (q == MAP_FAILED) {
		printf("FIXED move of several mappings: %s\n", errname(errno));
		return;
	}
	int ok = 1;
	for (size_t i = 0; i < 6 * (size_t)pg; i += 512)
		if (i / pg != 3)
			ok &= d[i] == (char)(i / 512 * 7 + 9);
	printf("FIXED move of several mappings: %s, contents %s, under the hole %d\n", q == d ? "at new_address" : "WRONG", ok ? "kept" : "LOST", d[3 * pg]);
	expect_write("FIXED move of several mappings: write to the read-only page", d + 2 * pg);
	expect_read("FIXED move of several mappings: read of the old range", a + 4 * pg);
	munmap(d - pg, 8 * pg);
}

// The racing check: one thread keeps storing an increasing count into a
// page while the main thread moves the mapping. Its stores either land
// before the move, and the moved page holds the last of them, or fault;
// once mremap has returned, the next store must fault.
static volatile long *race_word;
static volatile long race_last;
static atomic_int race_started, race_moved;

static void *writer(void *arg) {
	(void)arg;
	for (long n = 1;; n++) {
		int moved = atomic_load(&race_moved);
		if (sigsetjmp(jb, 1)) {
			printf("racing writer: %s\n", fault_code == SEGV_MAPERR ? "SIGSEGV SEGV_MAPERR" : "SIGSEGV other");
			return NULL;
		}
		*race_word = n;
		race_last = n;
		if (moved) {
			printf("racing writer: store succeeded after mremap returned\n");
			return NULL;
		}
		if (n == 1000)
			atomic_store(&race_started, 1);
	}
}

static void race(void) {
	char *r = reserve(2 * pg);
	char *p = map(r, pg, PROT_READ | PROT_WRITE, MAP_FIXED);
	map(p + pg, pg, PROT_READ, MAP_FIXED); // forces a move
	race_word = (volatile long *)(p + 64);
	pthread_t th;
	if (pthread_create(&th, NULL, writer, NULL) != 0) {
		printf("pthread_create failed\n");
		exit(1);
	}
	while (!atomic_load(&race_started))
		;
	char *q = mremap(p, pg, 4 * pg, MREMAP_MAYMOVE, NULL);
	atomic_store(&race_moved, 1);
	pthread_join(th, NULL);
	if (q == MAP_FAILED) {
		printf("racing move: %s\n", errname(errno));
		return;
	}
	printf("racing move: %s, last store %s\n", q == p ? "NOT MOVED" : "moved", *(long *)(q + 64) == race_last ? "kept" : "LOST");
	munmap(q, 4 * pg);
	munmap(r - pg, 4 * pg);
}

static void with_realloc(void) {
	size_t n = 1 << 20;
	unsigned char *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 31 + 7);
	for (size_t m = 2 << 20; m <= 64 << 20; m *= 2) {
		unsigned char *c = realloc(b, m);
		if (!c) {
			printf("realloc to %zu MiB failed\n", m >> 20);
			exit(1);
		}
		b = c;
		memset(b + m / 2, 0xa5, m / 2);
	}
	int ok = 1;
	for (size_t i = 0; i < n; i++)
		ok &= b[i] == (unsigned char)(i * 31 + 7);
	for (size_t i = n; i < (64 << 20); i += 4096)
		ok &= b[i] == 0xa5;
	printf("realloc 1 MiB -> 64 MiB in doublings: contents %s\n", ok ? "kept" : "LOST");
	b = realloc(b, 3 << 20);
	ok = 1;
	for (size_t i = 0; i < n; i++)
		ok &= b[i] == (unsigned char)(i * 31 + 7);
	printf("realloc 64 MiB -> 3 MiB: first MiB %s\n", ok ? "kept" : "LOST");
	free(b);
}

int main(void) {
	pg = sysconf(_SC_PAGESIZE);
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigaction(SIGSEGV, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	shrink();
	grow_in_place();
	grow_move();
	fixed();
	dontunmap();
	errors();
	shared_and_multi();
	race();
	with_realloc();
	printf("done\n");
	return 0;
}
