#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* crash MODE: segv (NULL read), write (NULL write), ud (ud2), div (x/0),
   gp (non-canonical access), int3, guard (PROT_NONE page). */
#include <sys/mman.h>

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "segv";
	printf("before the crash\n");
	fflush(stdout);
	if (!strcmp(mode, "segv"))
		return *(volatile int *)8;
	if (!strcmp(mode, "write"))
		*(volatile int *)16 = 1;
	if (!strcmp(mode, "ud"))
		__asm__ volatile("ud2");
	if (!strcmp(mode, "div"))
		__asm__ volatile("xor %%ecx, %%ecx; mov $1, %%eax; cltd; idiv %%ecx" ::: "eax", "ecx", "edx");
	if (!strcmp(mode, "gp"))
		return *(volatile int *)0x8000000000000000ull;
	if (!strcmp(mode, "int3"))
		__asm__ volatile("int3");
	if (!strcmp(mode, "guard")) {
		char *p = mmap(0, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p[4096];
	}
	return 0;
}
