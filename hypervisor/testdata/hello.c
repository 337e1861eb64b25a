#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	printf("hello, world\n");
	for (int i = 0; i < argc; i++)
		printf("argv[%d] = %s\n", i, argv[i]);
	const char *v = getenv("VPMU_TEST");
	printf("VPMU_TEST = %s\n", v ? v : "(unset)");
	char *p = malloc(1 << 20); /* mmap'd by malloc */
	memset(p, 'x', 1 << 20);
	free(p);
	fprintf(stderr, "to stderr\n");
	return argc > 1 ? atoi(argv[1]) : 0;
}
