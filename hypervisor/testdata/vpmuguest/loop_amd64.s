#include "textflag.h"

// func getpidLoop(n int)
// Makes n getpid system calls with no Go preemption point in between.
TEXT ·getpidLoop(SB), NOSPLIT, $0-8
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
