/* check.h: what the test programs print for a call, so that a native run
   and a run in the VM compare byte for byte. */
#ifndef VPMU_CHECK_H
#define VPMU_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* CHECK prints what, the result of expr and, for a negative one, errno's
   message. */
#define CHECK(what, expr)                                                                  \
	do {                                                                               \
		long r_ = (long)(expr);                                                    \
		int e_ = errno;                                                            \
		printf("%s: %ld%s%s\n", what, r_, r_ < 0 ? " " : "", r_ < 0 ? strerror(e_) : ""); \
	} while (0)

#endif
