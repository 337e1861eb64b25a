/* hot.c: two hot functions whose costs are 3:1 by construction, for the
 * vpmu record end-to-end test. heavy and light run the same loop, a
 * dependent multiply-add chain whose time per iteration does not depend
 * on the data, heavy for 3*n iterations and light for n. They alternate
 * many times, so slow phases of the machine hit both alike.
 *
 * Each calls seed first, so that it is not a leaf: gcc gives a leaf
 * function that needs no stack no frame even with
 * -fno-omit-frame-pointer, and a frame-pointer walk from inside it then
 * skips its caller (perf's --call-graph fp shows the same).
 *
 * Build: gcc -O1 -g -fno-omit-frame-pointer -fno-inline -o hot hot.c
 * Run:   hot ROUNDS (default 8000) */
#include <stdio.h>
#include <stdlib.h>

#define N 20000UL

unsigned long sink, seeds;

unsigned long seed(unsigned long n)
{
	seeds++;
	return n;
}

unsigned long heavy(unsigned long n) /* MARK:heavy */
{
	unsigned long x = seed(n);
	for (unsigned long i = 0; i < 3 * n; i++)
		x = x * 6364136223846793005UL + i;
	return x;
} /* MARK:heavy_end */

unsigned long light(unsigned long n) /* MARK:light */
{
	unsigned long x = seed(n);
	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + i;
	return x;
} /* MARK:light_end */

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 8000;
	for (unsigned long r = 0; r < rounds; r++) {
		/* n varies so that the calls cannot be hoisted out of the
		 * loop (gcc finds both functions pure). */
		unsigned long n = N + (r & 7);
		sink += heavy(n); /* MARK:call_heavy */
		sink += light(n);
	}
	printf("%lu\n", sink);
	return argc > 2 ? atoi(argv[2]) : 0;
}
