/* signals MODE: signal delivery tests for the hypervisor. Every mode
   prints the same bytes natively and in the VM; addresses are printed
   relative to known symbols, never raw. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile sig_atomic_t hits;
static volatile int last_code;
static void *volatile last_addr;

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0) {
		perror("sigaction");
		exit(2);
	}
}

static void jump_handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	hits++;
	last_code = si->si_code;
	last_addr = si->si_addr;
	siglongjmp(jb, sig);
}

/* segv: a SIGSEGV handler that longjmps out, three times. */
static int mode_segv(void) {
	install(SIGSEGV, jump_handler, 0);
	for (int i = 0; i < 3; i++) {
		int sig = sigsetjmp(jb, 1);
		if (sig == 0) {
			volatile int *p = (volatile int *)(uintptr_t)(0x10 + 8 * i);
			*p = 1;
			printf("no fault?\n");
			return 1;
		}
		printf("round %d: signal %d code %d addr %#lx\n", i, sig, last_code, (unsigned long)(uintptr_t)last_addr);
	}
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	printf("SIGSEGV blocked after longjmp: %d\n", sigismember(&cur, SIGSEGV));
	return 0;
}

extern char ud_insn[], div_insn[], div_insn2[], int3_after[];

/* siginfo: si_code and si_addr for different faults. */
static int mode_siginfo(void) {
	install(SIGSEGV, jump_handler, 0);
	install(SIGILL, jump_handler, 0);
	install(SIGFPE, jump_handler, 0);
	install(SIGTRAP, jump_handler, 0);
	char *guard = mmap(0, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (volatile int step = 0; step < 5; step++) {
		int sig = sigsetjmp(jb, 1);
		if (sig != 0) {
			const char *what[] = {"null", "guard", "ud2", "div", "int3"};
			long rel = 0;
			switch (step) {
			case 0: rel = (long)(uintptr_t)last_addr; break;
			case 1: rel = (char *)last_addr - guard; break;
			case 2: rel = (char *)last_addr - ud_insn; break;
			case 3: rel = (char *)last_addr - div_insn; break;
			case 4: rel = (long)(uintptr_t)last_addr; break;
			}
			printf("%s: signal %d code %d addr %+ld\n", what[step], sig, last_code, rel);
			continue;
		}
		switch (step) {
		case 0:
			*(volatile char *)0x20 = 1;
			break;
		case 1:
			(void)*(volatile char *)(guard + 4100);
			break;
		case 2:
			__asm__ volatile(".globl ud_insn\nud_insn: ud2");
			break;
		case 3:
			__asm__ volatile("xor %%ecx, %%ecx; mov $1, %%eax; cltd\n.globl div_insn\ndiv_insn: idiv %%ecx" ::: "eax", "ecx", "edx");
			break;
		case 4:
			__asm__ volatile("int3\n.globl int3_after\nint3_after: nop");
			break;
		}
		printf("step %d did not fault\n", step);
	}
	return 0;
}

static void fpe_handler(int sig, siginfo_t *si, void *ctx) {
	ucontext_t *uc = ctx;
	hits++;
	last_code = si->si_code;
	printf("handler: signal %d code %d at div_insn2%+ld\n", sig, si->si_code,
	       (long)((char *)si->si_addr - div_insn2));
	/* Clobber the FPU state the frame saved. */
	__asm__ volatile("pcmpeqd %%xmm7, %%xmm7" ::: "xmm7");
	volatile double d = 1.0;
	for (int i = 0; i < 10; i++)
		d *= 3.5;
	/* Skip the 2-byte idiv and make its "result" 42. */
	uc->uc_mcontext.gregs[REG_RIP] += 2;
	uc->uc_mcontext.gregs[REG_RAX] = 42;
}

/* fpe: SIGFPE from a division by zero; the handler edits the context. */
static int mode_fpe(void) {
	install(SIGFPE, fpe_handler, 0);
	uint64_t pattern[2] = {0x0123456789abcdefull, 0xfedcba9876543210ull}, back[2];
	int result;
	__asm__ volatile("movdqu %2, %%xmm7\n"
	                 "xor %%ecx, %%ecx; mov $1, %%eax; cltd\n"
	                 ".globl div_insn2\ndiv_insn2: idiv %%ecx\n"
	                 "movdqu %%xmm7, %1\n"
	                 "mov %%eax, %0"
	                 : "=r"(result), "=m"(back)
	                 : "m"(pattern)
	                 : "eax", "ecx", "edx", "xmm7");
	printf("result %d, handler ran %d time(s), xmm7 %s\n", result, hits,
	       memcmp(back, pattern, sizeof back) == 0 ? "preserved" : "CLOBBERED");
	return 0;
}

static void count_handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	hits++;
	last_code = si->si_code;
	printf("handler: %s code %d pid-match %d\n", strsignal(sig), si->si_code, si->si_pid == getpid());
}

/* raise: raise with a handler; blocking, sigpending, unblocking. */
static int mode_raise(void) {
	install(SIGUSR1, count_handler, 0);
	raise(SIGUSR1);
	printf("after raise: hits %d\n", hits);
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	sigpending(&pend);
	printf("blocked: hits %d, pending %d\n", hits, sigismember(&pend, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("unblocked: hits %d\n", hits);
	signal(SIGUSR2, SIG_IGN);
	raise(SIGUSR2);
	printf("ignored SIGUSR2: still here\n");
	return 0;
}

static volatile int depth, maxdepth;
static void nodefer_handler(int sig) {
	depth++;
	if (depth > maxdepth)
		maxdepth = depth;
	if (depth < 3)
		raise(sig);
	depth--;
}

/* flags: SA_NODEFER nests, SA_RESETHAND fires once then kills. */
static int mode_flags(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = nodefer_handler;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	printf("SA_NODEFER: max depth %d\n", maxdepth);
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sa.sa_sigaction = count_handler;
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR2);
	struct sigaction old;
	sigaction(SIGUSR2, NULL, &old);
	printf("SA_RESETHAND: handler now default %d\n", old.sa_handler == SIG_DFL);
	/* Unknown flags read back as zero. */
	sa.sa_flags = SA_SIGINFO | 0x400 /* SA_UNSUPPORTED */;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR1, NULL, &old);
	printf("SA_UNSUPPORTED kept: %d\n", (old.sa_flags & 0x400) != 0);
	fflush(stdout);
	raise(SIGUSR2); /* default action: terminate */
	printf("not reached\n");
	return 0;
}

static char *alt_lo, *alt_hi;
static void overflow_handler(int sig, siginfo_t *si, void *uc) {
	(void)si;
	(void)uc;
	char here;
	stack_t ss;
	sigaltstack(NULL, &ss);
	printf("caught %s on the alternate stack: %d, SS_ONSTACK %d\n", strsignal(sig),
	       &here >= alt_lo && &here < alt_hi, (ss.ss_flags & SS_ONSTACK) != 0);
	fflush(stdout);
	_exit(0);
}

static int recurse(int n) {
	volatile char buf[4096];
	buf[0] = (char)n;
	return recurse(n + 1) + buf[0];
}

/* altstack: a stack overflow caught on the alternate stack. */
static int mode_altstack(void) {
	static char stack[64 * 1024];
	stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack, .ss_flags = 0};
	alt_lo = stack;
	alt_hi = stack + sizeof stack;
	if (sigaltstack(&ss, NULL) != 0) {
		perror("sigaltstack");
		return 2;
	}
	stack_t cur;
	sigaltstack(NULL, &cur);
	printf("altstack set: flags %d size %zu\n", cur.ss_flags, cur.ss_size);
	ss.ss_size = 100;
	int r = sigaltstack(&ss, NULL);
	printf("too small: %d %s\n", r, strerror(errno));
	install(SIGSEGV, overflow_handler, SA_ONSTACK);
	fflush(stdout);
	return recurse(0);
}

static pthread_t worker;
static volatile int worker_ready, worker_done, usr2_tid_ok;
static pid_t worker_tid;

static void usr_handler(int sig, siginfo_t *si, void *uc) {
	(void)si;
	(void)uc;
	if (sig == SIGUSR2)
		usr2_tid_ok = gettid() == worker_tid;
	hits++;
}

static void *worker_main(void *arg) {
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	worker_tid = gettid();
	worker_ready = 1;
	while (!worker_done) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* threads: pthread_kill between threads; a process-directed signal
   blocked by the main thread goes to the worker. */
static int mode_threads(void) {
	install(SIGUSR1, usr_handler, 0);
	install(SIGUSR2, usr_handler, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_create(&worker, NULL, worker_main, NULL);
	while (!worker_ready)
		sched_yield();
	pthread_kill(worker, SIGUSR1);
	while (hits < 1)
		sched_yield();
	printf("worker got SIGUSR1\n");
	kill(getpid(), SIGUSR2);
	while (hits < 2)
		sched_yield();
	printf("SIGUSR2 went to the worker: %d\n", usr2_tid_ok);
	worker_done = 1;
	pthread_join(worker, NULL);
	return 0;
}

static volatile int reader_in_read, reader_done;
static void *reader_main(void *arg) {
	(void)arg;
	char buf[64];
	reader_in_read = 1;
	ssize_t n = read(0, buf, sizeof buf);
	int e = errno;
	if (n < 0)
		printf("read: %s\n", strerror(e));
	else
		printf("read %zd bytes: %.*s", n, (int)n, buf);
	reader_done = 1;
	return NULL;
}

/* eintr / restart: a thread blocked in read(0) gets a signal; without
   SA_RESTART the read fails with EINTR, with it the read goes on. The
   test releases stdin once "signals sent" is printed. */
static int mode_interrupt(int restart) {
	install(SIGUSR1, usr_handler, restart ? SA_RESTART : 0);
	pthread_t r;
	pthread_create(&r, NULL, reader_main, NULL);
	while (!reader_in_read)
		sched_yield();
	for (int i = 0; !reader_done && (restart ? hits < 5 : 1); i++) {
		pthread_kill(r, SIGUSR1);
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	printf("signals sent\n");
	fflush(stdout);
	pthread_join(r, NULL);
	return 0;
}

/* queue: real-time signals queue every instance with their value;
   standard ones pend once; sigtimedwait takes them; it times out. */
static int mode_queue(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < 3; i++) {
		union sigval v = {.sival_int = 100 + i};
		sigqueue(getpid(), SIGRTMIN + 1, v);
		kill(getpid(), SIGUSR1);
	}
	siginfo_t si;
	int sig;
	struct timespec zero = {0, 0};
	while ((sig = sigtimedwait(&set, &si, &zero)) > 0)
		printf("took %s value %d code %d\n", sig == SIGUSR1 ? "SIGUSR1" : "SIGRTMIN+1",
		       sig == SIGUSR1 ? 0 : si.si_value.sival_int, si.si_code);
	printf("then: %s\n", strerror(errno));
	struct timespec ms = {0, 10000000};
	sig = sigtimedwait(&set, &si, &ms);
	printf("timed wait: %d %s\n", sig, strerror(errno));
	return 0;
}

static void suspend_handler(int sig) { hits += sig == SIGUSR1; }
static void *suspend_sender(void *arg) {
	pthread_t main_thread = *(pthread_t *)arg;
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

/* suspend: sigsuspend with the signal unblocked only while waiting. */
static int mode_suspend(void) {
	signal(SIGUSR1, suspend_handler);
	sigset_t block, wait, cur;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	pthread_t self = pthread_self(), t;
	pthread_create(&t, NULL, suspend_sender, &self);
	sigemptyset(&wait);
	int r = sigsuspend(&wait);
	sigprocmask(SIG_SETMASK, NULL, &cur);
	printf("sigsuspend %d %s, hits %d, SIGUSR1 blocked again %d\n", r, strerror(errno), hits,
	       sigismember(&cur, SIGUSR1));
	pthread_join(t, NULL);
	return 0;
}

static void sleep_handler(int sig) { (void)sig; }
/* sleep: nanosleep interrupted by a handler returns EINTR and the time
   left. */
static int mode_sleep(void) {
	signal(SIGUSR1, sleep_handler);
	pthread_t self = pthread_self(), t;
	pthread_create(&t, NULL, suspend_sender, &self);
	struct timespec req = {5, 0}, rem = {0, 0};
	int r = nanosleep(&req, &rem);
	printf("nanosleep %d %s, rem between 3 and 5 s: %d\n", r, strerror(errno), rem.tv_sec >= 3 && rem.tv_sec < 5);
	pthread_join(t, NULL);
	return 0;
}

static volatile int alarms;
static void alarm_handler(int sig) { alarms += sig == SIGALRM; }

/* timer: a periodic ITIMER_REAL, then alarm's bookkeeping. */
static int mode_timer(void) {
	signal(SIGALRM, alarm_handler);
	struct itimerval it = {.it_interval = {0, 10000}, .it_value = {0, 20000}}, old;
	setitimer(ITIMER_REAL, &it, NULL);
	while (alarms < 3)
		pause();
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, &old);
	printf("alarms %d, interval was %ld us\n", alarms, (long)old.it_interval.tv_usec);
	getitimer(ITIMER_REAL, &old);
	printf("disarmed: %ld %ld\n", (long)old.it_value.tv_sec, (long)old.it_value.tv_usec);
	alarm(5);
	printf("alarm left %u\n", alarm(0));
	printf("no alarm left %u\n", alarm(0));
	return 0;
}

/* resources: mincore of touched and reserved pages; getrusage. */
static int mode_resources(void) {
	long ps = sysconf(_SC_PAGESIZE);
	char *p = mmap(0, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *r = mmap(0, 4 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 1, 4 * ps);
	unsigned char vec[4];
	printf("mincore touched: %d", mincore(p, 4 * ps, vec));
	for (int i = 0; i < 4; i++)
		printf(" %d", vec[i] & 1);
	printf("\nmincore reserved: %d", mincore(r, 4 * ps, vec));
	for (int i = 0; i < 4; i++)
		printf(" %d", vec[i] & 1);
	int rc = mincore(p + 1, ps, vec);
	printf("\nmincore unaligned: %d %s\n", rc, strerror(errno));
	munmap(r, 4 * ps);
	rc = mincore(r, ps, vec);
	printf("mincore unmapped: %d %s\n", rc, strerror(errno));
	struct rusage ru;
	volatile unsigned long x = 1;
	for (long i = 0; i < 50000000; i++)
		x = x * 6364136223846793005ul + 1;
	rc = getrusage(RUSAGE_SELF, &ru);
	printf("getrusage: %d, some user time %d, maxrss %d\n", rc,
	       ru.ru_utime.tv_sec > 0 || ru.ru_utime.tv_usec > 0, ru.ru_maxrss > 0);
	rc = getrusage(RUSAGE_THREAD, &ru);
	printf("getrusage thread: %d, some user time %d\n", rc, ru.ru_utime.tv_sec > 0 || ru.ru_utime.tv_usec > 0);
	return 0;
}

static void fix_handler(int sig, siginfo_t *si, void *ctx) {
	ucontext_t *uc = ctx;
	/* The handler inherits RFLAGS.AC: clear it before touching memory
	   the compiler may access unaligned. */
	__asm__ volatile("pushf\n andl $~0x40000, (%%rsp)\n popf" ::: "memory", "cc");
	hits++;
	printf("handler: signal %d code %d\n", sig, si->si_code);
	if (sig == SIGBUS) /* alignment check: turn AC off and retry */
		uc->uc_mcontext.gregs[REG_EFL] &= ~0x40000L;
	if (sig == SIGFPE) /* SIMD exception: mask them all again and retry */
		uc->uc_mcontext.fpregs->mxcsr |= 0x1f80;
}

/* fixups: #AC -> SIGBUS and #XM -> SIGFPE; the handlers fix the cause
   in the saved context (RFLAGS, MXCSR in the FPU frame) and return. */
static int mode_fixups(void) {
	install(SIGBUS, fix_handler, 0);
	install(SIGFPE, fix_handler, 0);
	static char buf[16] __attribute__((aligned(16)));
	int v;
	__asm__ volatile("pushf\n orl $0x40000, (%%rsp)\n popf\n"
	                 "movl 1(%1), %0\n" /* misaligned */
	                 "pushf\n andl $~0x40000, (%%rsp)\n popf"
	                 : "=r"(v)
	                 : "r"(buf)
	                 : "memory", "cc");
	printf("after #AC: hits %d\n", hits);
	unsigned int mx = 0x1f80 & ~(1u << 9); /* unmask divide-by-zero */
	float one = 1.0f, zero = 0.0f, q;
	__asm__ volatile("ldmxcsr %3\n"
	                 "movss %1, %%xmm0\n divss %2, %%xmm0\n movss %%xmm0, %0"
	                 : "=m"(q)
	                 : "m"(one), "m"(zero), "m"(mx)
	                 : "xmm0");
	unsigned int now;
	__asm__ volatile("stmxcsr %0" : "=m"(now));
	printf("after #XM: hits %d, q is inf %d, ZE flag %d, masked again %d\n", hits, q > 1e30f, (now >> 2) & 1,
	       (now & 0x1f80) == 0x1f80);
	return 0;
}

static void term_handler(int sig) {
	/* Async-signal-safe: the signal may interrupt printf's write. */
	static const char msg[] = "got SIGTERM\n";
	(void)sig;
	write(1, msg, sizeof msg - 1);
	_exit(0);
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "segv"))
		return mode_segv();
	if (!strcmp(mode, "siginfo"))
		return mode_siginfo();
	if (!strcmp(mode, "fpe"))
		return mode_fpe();
	if (!strcmp(mode, "raise"))
		return mode_raise();
	if (!strcmp(mode, "flags"))
		return mode_flags();
	if (!strcmp(mode, "altstack"))
		return mode_altstack();
	if (!strcmp(mode, "threads"))
		return mode_threads();
	if (!strcmp(mode, "eintr"))
		return mode_interrupt(0);
	if (!strcmp(mode, "restart"))
		return mode_interrupt(1);
	if (!strcmp(mode, "queue"))
		return mode_queue();
	if (!strcmp(mode, "suspend"))
		return mode_suspend();
	if (!strcmp(mode, "sleep"))
		return mode_sleep();
	if (!strcmp(mode, "fixups"))
		return mode_fixups();
	if (!strcmp(mode, "timer"))
		return mode_timer();
	if (!strcmp(mode, "resources"))
		return mode_resources();
	if (!strcmp(mode, "waitsig")) {
		/* Wait for a signal from outside: SIGTERM has a handler, the
		   others their default action. */
		signal(SIGTERM, term_handler);
		printf("ready\n");
		for (;;)
			pause();
	}
	if (!strcmp(mode, "abort")) {
		printf("before abort\n");
		abort();
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
