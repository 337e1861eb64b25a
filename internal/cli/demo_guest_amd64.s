#include "textflag.h"

// func demoGetpidLoop(n int)
// Makes n getpid system calls with no Go preemption point in between, so
// that the Go runtime cannot add calls of its own to a measured region.
TEXT ·demoGetpidLoop(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), BX
	TESTQ BX, BX
	JLE done
loop:
	MOVQ $39, AX // SYS_getpid
	SYSCALL
	DECQ BX
	JNZ loop
done:
	RET
