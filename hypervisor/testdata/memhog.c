// memhog allocates and touches 1 MiB blocks until malloc fails, then
// reports how far it got, as a C program reports running out of memory.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
	for (size_t mib = 0; mib < 1 << 20; mib++) {
		char *p = malloc(1 << 20);
		if (p == NULL) {
			fprintf(stderr, "memhog: malloc failed after %zu MiB: %s\n", mib, strerror(errno));
			return 3;
		}
		memset(p, 1, 1 << 20);
	}
	return 0;
}
