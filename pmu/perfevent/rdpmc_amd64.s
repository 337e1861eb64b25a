#include "textflag.h"

// func rdpmcAsm(counter uint32) uint64
//
// RDPMC reads performance counter ECX into EDX:EAX. It faults (#GP, a
// SIGSEGV) unless CR4.PCE is set, which Linux does for a process while it
// has a perf event mapped whose page says cap_user_rdpmc.
TEXT ·rdpmcAsm(SB), NOSPLIT|NOFRAME, $0-16
	MOVL counter+0(FP), CX
	RDPMC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+8(FP)
	RET

// func rdtscAsm() uint64
TEXT ·rdtscAsm(SB), NOSPLIT|NOFRAME, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET
