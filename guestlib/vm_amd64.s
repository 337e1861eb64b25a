#include "textflag.h"

// func rdtsc() uint64
TEXT ·rdtsc(SB), NOSPLIT, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func rdpmc(index uint32) uint64
TEXT ·rdpmc(SB), NOSPLIT, $0-16
	MOVL index+0(FP), CX
	RDPMC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+8(FP)
	RET

// func gsSelf() uint64
// Loads the quadword at GS:8, the Self field of the thread's state page,
// whose address the vpmu hypervisor keeps in the thread's GS base. Only
// call it after the paravirtual probe succeeded: elsewhere GS:8 faults.
TEXT ·gsSelf(SB), NOSPLIT, $0-8
	// MOVQ GS:0x8, AX  (65 48 8b 04 25 08 00 00 00)
	BYTE $0x65; BYTE $0x48; BYTE $0x8b; BYTE $0x04; BYTE $0x25
	BYTE $0x08; BYTE $0x00; BYTE $0x00; BYTE $0x00
	MOVQ AX, ret+0(FP)
	RET
