/* vmguest: the VM exporter's test guest, without a C library (build with
   gcc -static -nostdlib -fno-builtin -fno-stack-protector), so that every
   system call it makes is its own.

   vmguest tally
       The main thread refuses to be sandboxed twice (an open for writing
       of /vpmu-exporter-denied and an AF_INET socket, both refused),
       starts 3 threads with raw clone(2) and waits for them by spinning
       on their CLONE_CHILD_CLEARTID words, without a system call, then
       exits with exit_group(0): 3 + 2 + 1 = 6 system calls. Thread i
       (0-based) makes 100*(i+1) getpid calls and exit(2): 101, 201, 301.

   vmguest block N
       Starts N threads that wait on a futex nobody wakes, writes
       "ready\n", then for each read(2) of standard input that returns
       data makes 1000 getpid calls, spins a while and writes "ok\n"; at
       end of input it exits with exit_group(0), which ends the threads.

   vmguest bogus N
       Makes N system calls with the distinct numbers 100000 .. 100000+N-1,
       which no x86-64 system call has, then acct(NULL), which the VMM
       does not implement; exits 0 if every one returned -ENOSYS, else 1.

   vmguest churn N
       Starts N threads one after another, each making one getpid call
       and exit(2), and waits for each (a futex wait on its
       CLONE_CHILD_CLEARTID word) before starting the next; then behaves
       like "block 0". */
#include <linux/futex.h>
#include <linux/sched.h>
#include <sys/syscall.h>

#define MAXT 128
#define STACK (16 * 1024)

static volatile int ctid[MAXT];
static volatile int never;
static char stacks[MAXT][STACK] __attribute__((aligned(16)));

static long sys6(long nr, long a, long b, long c, long d, long e, long f) {
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static long sys3(long nr, long a, long b, long c) { return sys6(nr, a, b, c, 0, 0, 0); }

static void __attribute__((noreturn)) exit_thread(void) {
	sys3(SYS_exit, 0, 0, 0);
	__builtin_unreachable();
}

static void __attribute__((noreturn)) exit_group(int code) {
	sys3(SYS_exit_group, code, 0, 0);
	__builtin_unreachable();
}

static void write_str(int fd, const char *s) {
	long n = 0;
	while (s[n])
		n++;
	sys3(SYS_write, fd, (long)s, n);
}

static void __attribute__((noreturn, used)) tally_worker(long k) {
	for (long i = 0; i < k; i++)
		sys3(SYS_getpid, 0, 0, 0);
	exit_thread();
}

static void __attribute__((noreturn, used)) block_worker(long unused) {
	(void)unused;
	for (;;)
		sys6(SYS_futex, (long)&never, FUTEX_WAIT, 0, 0, 0, 0);
}

/* spawn starts fn(arg) on a new thread whose stack top is top. */
static long spawn(void (*fn)(long), long arg, char *top, volatile int *tidword) {
	long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		     CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
	register long r10 __asm__("r10") = (long)tidword;
	register long r8 __asm__("r8") = 0;
	register long r12 __asm__("r12") = arg;
	register long r13 __asm__("r13") = (long)fn;
	long ret;
	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"mov %%r12, %%rdi\n\t"
		"call *%%r13\n"
		"1:"
		: "=a"(ret)
		: "0"(SYS_clone), "D"(flags), "S"(top), "d"(0), "r"(r10), "r"(r8), "r"(r12), "r"(r13)
		: "rcx", "r11", "memory");
	return ret;
}

static int streq(const char *a, const char *b) {
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static long atol_(const char *s) {
	long n = 0;
	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return n;
}

static void tally(void) {
	/* O_WRONLY|O_CREAT; AF_INET, SOCK_STREAM */
	sys6(SYS_openat, -100, (long)"/vpmu-exporter-denied", 01 | 0100, 0644, 0, 0);
	sys3(SYS_socket, 2, 1, 0);
	for (int i = 0; i < 3; i++) {
		ctid[i] = -1;
		if (spawn(tally_worker, 100L * (i + 1), stacks[i] + STACK, &ctid[i]) < 0)
			exit_group(3);
	}
	for (int i = 0; i < 3; i++)
		while (ctid[i] != 0)
			__asm__ volatile("pause" ::: "memory");
	exit_group(0);
}

static void serve(void);

static void block(long n) {
	if (n < 0 || n > MAXT)
		exit_group(2);
	for (long i = 0; i < n; i++)
		if (spawn(block_worker, 0, stacks[i] + STACK, &ctid[i]) < 0)
			exit_group(3);
	serve();
}

/* serve writes "ready\n", then does a round of work per read of standard
   input and exits at its end. */
static void serve(void) {
	char buf[64];
	write_str(1, "ready\n");
	while (sys3(SYS_read, 0, (long)buf, sizeof buf) > 0) {
		for (int i = 0; i < 1000; i++)
			sys3(SYS_getpid, 0, 0, 0);
		for (volatile long i = 0; i < 1000000; i++)
			;
		write_str(1, "ok\n");
	}
	exit_group(0);
}

static void bogus(long n) {
	int bad = 0;
	for (long i = 0; i < n; i++)
		if (sys3(100000 + i, 0, 0, 0) != -38)
			bad = 1;
	if (sys3(SYS_acct, 0, 0, 0) != -38)
		bad = 1;
	exit_group(bad);
}

static void __attribute__((noreturn, used)) churn_worker(long unused) {
	(void)unused;
	sys3(SYS_getpid, 0, 0, 0);
	exit_thread();
}

static void churn(long n) {
	for (long i = 0; i < n; i++) {
		ctid[0] = -1;
		if (spawn(churn_worker, 0, stacks[0] + STACK, &ctid[0]) < 0)
			exit_group(3);
		int v;
		while ((v = ctid[0]) != 0)
			sys6(SYS_futex, (long)&ctid[0], FUTEX_WAIT, v, 0, 0, 0);
	}
	serve();
}

void __attribute__((noreturn, used)) start_c(long *sp) {
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	if (argc >= 2 && streq(argv[1], "tally"))
		tally();
	if (argc >= 3 && streq(argv[1], "block"))
		block(atol_(argv[2]));
	if (argc >= 3 && streq(argv[1], "bogus"))
		bogus(atol_(argv[2]));
	if (argc >= 3 && streq(argv[1], "churn"))
		churn(atol_(argv[2]));
	write_str(2, "usage: vmguest tally | vmguest block N | vmguest bogus N | vmguest churn N\n");
	exit_group(2);
}

__attribute__((naked, noreturn)) void _start(void) {
	__asm__ volatile(
		"mov %rsp, %rdi\n\t"
		"and $-16, %rsp\n\t"
		"call start_c\n\t"
		"hlt");
}
