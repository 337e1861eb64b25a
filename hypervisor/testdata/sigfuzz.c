/* sigfuzz MODE: reads fuzz input on stdin and misuses signals with it.
     sigreturn  rt_sigreturn on the input as a signal frame (byte 0 bit 0:
                point the frame's fpstate at the FPU area that follows it)
     deliver    input: rsp, alternate stack offset, size, flags, sa_flags;
                a handled SIGUSR1 arrives with that stack pointer
   Either may crash the program in any way; the VMM must not mind. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned char buf[16384] __attribute__((aligned(64)));

static void handler(int sig) { (void)sig; }

static size_t read_all(void) {
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf && (r = read(0, buf + n, sizeof buf - n)) > 0)
		n += r;
	return n;
}

static uint64_t word(int i) {
	uint64_t v;
	memcpy(&v, buf + 8 * i, 8);
	return v;
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	size_t n = read_all();
	if (!strcmp(mode, "sigreturn")) {
		unsigned char *frame = buf + 64;
		memmove(frame, buf, n < sizeof buf - 64 ? n : sizeof buf - 64);
		if (n > 0 && (buf[64] & 1)) {
			uint64_t fp = ((uint64_t)(uintptr_t)frame + 440 + 63) & ~63ull;
			memcpy(frame + 8 + 40 + 184, &fp, 8);
		}
		register uint64_t sp asm("r12") = (uint64_t)(uintptr_t)frame + 8;
		__asm__ volatile("mov %0, %%rsp\n"
		                 "mov $15, %%eax\n"
		                 "syscall\n"
		                 "mov $231, %%eax\n"
		                 "xor %%edi, %%edi\n"
		                 "syscall\n" ::"r"(sp)
		                 : "memory");
		return 0;
	}
	if (!strcmp(mode, "deliver")) {
		uint64_t rsp = word(0), alt = word(1), size = word(2), flags = word(3), saflags = word(4);
		if (rsp < sizeof buf)
			rsp += (uint64_t)(uintptr_t)buf;
		if (alt < sizeof buf)
			alt += (uint64_t)(uintptr_t)buf;
		stack_t ss = {.ss_sp = (void *)(uintptr_t)alt, .ss_size = size, .ss_flags = (int)flags};
		sigaltstack(&ss, NULL);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handler;
		sa.sa_flags = (int)(saflags & (SA_ONSTACK | SA_NODEFER | SA_RESETHAND | SA_RESTART | SA_SIGINFO));
		sigaction(SIGUSR1, &sa, NULL);
		long pid = getpid(), tid = gettid();
		register uint64_t sp asm("r12") = rsp;
		__asm__ volatile("mov %0, %%rsp\n"
		                 "mov $234, %%eax\n"
		                 "syscall\n"
		                 "mov $231, %%eax\n"
		                 "xor %%edi, %%edi\n"
		                 "syscall\n" ::"r"(sp),
		                 "D"(pid), "S"(tid), "d"((long)SIGUSR1)
		                 : "memory", "rax", "rcx", "r11");
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
