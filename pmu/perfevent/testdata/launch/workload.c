/*
 * A deterministic workload for comparing counts with perf stat: it takes
 * 4000 page faults on fresh anonymous memory, sleeps 20 times (20
 * voluntary context switches), spins, and exits with status 3.
 */
#include <sys/mman.h>
#include <time.h>

int main(void)
{
	unsigned long n = 4000UL * 4096UL;
	char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	for (unsigned long i = 0; i < n; i += 4096)
		p[i] = 1;
	struct timespec ts = {0, 200000};
	for (int i = 0; i < 20; i++)
		nanosleep(&ts, 0);
	volatile unsigned long x = 1;
	for (long i = 0; i < 30000000; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	return 3;
}
