package hypervisor

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"
)

// stepInsn is what precise mode needs to know about an instruction it
// single-stepped over.
type stepInsn struct {
	// code holds the instruction's bytes (len = its length), to tell a
	// cached decode from changed code at the same address.
	code []byte
	// branch: the instruction is a branch as hardware counts them
	// (branch-instructions: near and far jumps, conditional jumps,
	// calls, returns, loops, SYSCALL/SYSRET, INT, IRET).
	branch bool
	// repString: a REP/REPNE-prefixed string instruction, which traps
	// once per iteration with RIP unchanged until the last.
	repString bool
	// flags says how the instruction touches RFLAGS.TF in memory or
	// from memory.
	flags tfAccess
	// bad is set when x86asm could not decode the bytes; the step still
	// counts as an instruction, not as a branch.
	bad bool
}

// tfAccess is how an instruction moves RFLAGS (with TF) to or from the
// stack.
type tfAccess uint8

const (
	tfNone   tfAccess = iota
	tfPush16          // PUSHF: 16-bit FLAGS to the stack
	tfPush64          // PUSHFQ
	tfPop             // POPF/POPFQ/IRET: RFLAGS from the stack
)

// maxInsnLen is the longest x86 instruction.
const maxInsnLen = 15

// classifyInsn decodes the instruction at the start of code (64-bit
// mode). It is pure.
func classifyInsn(code []byte) stepInsn {
	inst, err := x86asm.Decode(code, 64)
	if err != nil || inst.Len == 0 {
		n := min(len(code), 1)
		return stepInsn{code: append([]byte(nil), code[:n]...), bad: true}
	}
	s := stepInsn{code: append([]byte(nil), code[:inst.Len]...)}
	switch inst.Op {
	case x86asm.JMP, x86asm.LJMP, x86asm.CALL, x86asm.LCALL, x86asm.RET, x86asm.LRET,
		x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE,
		x86asm.SYSCALL, x86asm.SYSRET, x86asm.SYSENTER, x86asm.SYSEXIT, x86asm.INT, x86asm.INTO:
		s.branch = true
	case x86asm.IRET, x86asm.IRETD, x86asm.IRETQ:
		s.branch, s.flags = true, tfPop
	case x86asm.PUSHF:
		s.flags = tfPush16
	case x86asm.PUSHFQ, x86asm.PUSHFD:
		s.flags = tfPush64
	case x86asm.POPF, x86asm.POPFQ, x86asm.POPFD:
		s.flags = tfPop
	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ,
		x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.STOSQ,
		x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ,
		x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ,
		x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ,
		x86asm.INSB, x86asm.INSW, x86asm.INSD, x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
		for _, p := range inst.Prefix {
			if p == 0 {
				break
			}
			if q := p &^ (x86asm.PrefixImplicit | x86asm.PrefixIgnored); q == x86asm.PrefixREP || q == x86asm.PrefixREPN {
				s.repString = p&x86asm.PrefixIgnored == 0
			}
		}
	}
	return s
}

// stepDecoder caches decoded instructions by address for one VCPU.
// Every lookup re-reads the bytes, so code that changes at an address
// (a JIT, a loader) is decoded again.
type stepDecoder struct {
	cache map[uint64]stepInsn
}

// maxStepCache bounds the cache; it is cleared when full.
const maxStepCache = 1 << 16

// decode returns the instruction at rip in mm. It reads up to 15 bytes,
// fewer when the page after rip's is not readable.
func (d *stepDecoder) decode(mm *MM, rip uint64) stepInsn {
	var buf [maxInsnLen]byte
	n := maxInsnLen
	if err := mm.CopyIn(rip, buf[:]); err != nil {
		n = int(pageSize - rip&pageMask)
		if n >= maxInsnLen || mm.CopyIn(rip, buf[:n]) != nil {
			return stepInsn{bad: true}
		}
	}
	if s, ok := d.cache[rip]; ok && len(s.code) <= n && bytes.Equal(s.code, buf[:len(s.code)]) {
		return s
	}
	s := classifyInsn(buf[:n])
	if d.cache == nil || len(d.cache) >= maxStepCache {
		d.cache = make(map[uint64]stepInsn)
	}
	d.cache[rip] = s
	return s
}
