/* Test program for the symbolizer tests. Lines marked MARK:name are found
 * by the tests, which check that addresses resolve to them. */
#include <stdio.h>
#include <stdlib.h>

volatile unsigned long sink;

__attribute__((noinline)) unsigned long hot(unsigned long n) { /* MARK:hot */
	unsigned long s = 0;
	for (unsigned long i = 0; i < n; i++)
		s += i * i + sink;
	return s;
}

__attribute__((noinline)) unsigned long cold(unsigned long n) { /* MARK:cold */
	unsigned long s = 1;
	for (unsigned long i = 0; i < n; i++)
		s = s * 3 + sink;
	return s;
}

static inline __attribute__((always_inline)) unsigned long mix(unsigned long x) { /* MARK:mix */
	return (x * 2654435761u) ^ (x >> 13) ^ sink; /* MARK:mixbody */
}

__attribute__((noinline)) unsigned long caller(unsigned long n) { /* MARK:caller */
	unsigned long s = 0;
	for (unsigned long i = 0; i < n; i++)
		s += mix(i + s); /* MARK:callmix */
	return s;
}

int main(int argc, char **argv) {
	unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 1000;
	if (argc > 2) {
		/* Report the runtime addresses, then wait, so a test can read
		 * /proc/PID/maps while the program is alive. */
		printf("hot %p\ncold %p\ncaller %p\nend\n", (void *)hot, (void *)cold, (void *)caller);
		fflush(stdout);
		getchar();
	}
	sink = hot(n) + cold(n) + caller(n);
	return 0;
}
