package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// The x86-64 Linux signal frame (arch/x86/include/asm/sigframe.h,
// arch/x86/kernel/signal_64.c). From the handler's RSP up:
//
//	rt_sigframe   pretcode (the sa_restorer the handler returns to),
//	              struct ucontext, struct siginfo
//	padding
//	fpstate       the XSAVE image, 64-byte aligned, with the software
//	              bytes at 464 and FP_XSTATE_MAGIC2 after it
//	(red zone, 128 bytes, or the top of the alternate stack)
//
// The offsets below are checked against the kernel's uapi headers by
// TestSigFrameLayoutMatchesKernel.
const (
	// struct sigcontext (arch/x86/include/uapi/asm/sigcontext.h), 256 bytes.
	scR8      = 0
	scR9      = 8
	scR10     = 16
	scR11     = 24
	scR12     = 32
	scR13     = 40
	scR14     = 48
	scR15     = 56
	scRDI     = 64
	scRSI     = 72
	scRBP     = 80
	scRBX     = 88
	scRDX     = 96
	scRAX     = 104
	scRCX     = 112
	scRSP     = 120
	scRIP     = 128
	scEflags  = 136
	scCS      = 144 // u16, then gs, fs, ss (u16 each)
	scGS      = 146
	scFS      = 148
	scSS      = 150
	scErr     = 152
	scTrapno  = 160
	scOldmask = 168
	scCR2     = 176
	scFpstate = 184
	scSize    = 256

	// struct ucontext (include/uapi/asm-generic/ucontext.h with the
	// kernel's 8-byte sigset_t).
	ucFlags    = 0
	ucLink     = 8
	ucStack    = 16 // stack_t: ss_sp, ss_flags (int, padded), ss_size
	ucMcontext = 40
	ucSigmask  = ucMcontext + scSize // 296
	ucSize     = ucSigmask + sigsetSize

	// struct rt_sigframe.
	frPretcode = 0
	frUC       = 8
	frInfo     = frUC + ucSize // 312
	frSize     = frInfo + siginfoSize

	// uc_flags bits (arch/x86/include/uapi/asm/ucontext.h).
	ucFPXstate         = 0x1
	ucSigcontextSS     = 0x2
	ucStrictRestoreSS  = 0x4
	redZone            = 128
	sigFrameAlign      = 16
	sigFPAlign         = 64
	fixEflags          = rflagsAC | rflagsOF | rflagsDF | rflagsTF | rflagsSF | rflagsZF | rflagsAF | rflagsPF | rflagsCF | rflagsRF
	handlerClearEflags = rflagsDF | rflagsRF | rflagsTF
)

// faultInfo is what a thread's last fault left for the sigcontext's
// trapno, err and cr2 fields (Linux keeps them in thread_struct and
// writes them into every frame).
type faultInfo struct {
	trapno, err, cr2 uint64
}

// sigFrameSpec is everything a frame records.
type sigFrameSpec struct {
	regs     kvm.Regs
	mask     sigset // restored by sigreturn (uc_sigmask; oldmask too)
	alt      sigaltstack
	fault    faultInfo
	info     []byte // siginfo_t, nil without SA_SIGINFO
	restorer uint64
	ucFlags  uint64
	fp       []byte // the frame's FPU area (see xstateLayout.toFrame), nil for none
}

// placeSigFrame computes where a frame goes, as Linux's get_sigframe:
// below the red zone, or at the top of the alternate stack when the
// action has SA_ONSTACK and the thread is not on it already; the FPU
// area first, 64-byte aligned, then the rt_sigframe with RSP % 16 == 8
// at the handler's entry (as after a call). ok is false when a frame on
// the alternate stack would overflow it.
func placeSigFrame(sp uint64, onstack bool, alt sigaltstack, fpSize uint64) (frame, fp uint64, ok bool) {
	nested := alt.onStack(sp)
	entering := false
	sp -= redZone
	if onstack && alt.flagsAt(sp) == 0 {
		sp = alt.sp + alt.size
		entering = true
	}
	if fpSize > 0 {
		sp = (sp - fpSize) &^ (sigFPAlign - 1)
	}
	fp = sp
	sp -= frSize
	frame = sp&^(sigFrameAlign-1) - 8
	if (nested || entering) && !alt.contains(frame) {
		return 0, 0, false
	}
	return frame, fp, true
}

// buildSigFrame returns the bytes of [frame, fp+len(s.fp)) (or of the
// rt_sigframe alone without an FPU area), to be copied to frame.
func buildSigFrame(s *sigFrameSpec, frame, fp uint64) []byte {
	end := frame + frSize
	if s.fp != nil {
		end = fp + uint64(len(s.fp))
	}
	b := make([]byte, end-frame)
	le := binary.LittleEndian
	le.PutUint64(b[frPretcode:], s.restorer)
	uc := b[frUC:]
	le.PutUint64(uc[ucFlags:], s.ucFlags)
	le.PutUint64(uc[ucLink:], 0)
	copy(uc[ucStack:], s.alt.encode())
	sc := uc[ucMcontext:]
	r := &s.regs
	for _, f := range []struct {
		off int
		v   uint64
	}{
		{scR8, r.R8}, {scR9, r.R9}, {scR10, r.R10}, {scR11, r.R11},
		{scR12, r.R12}, {scR13, r.R13}, {scR14, r.R14}, {scR15, r.R15},
		{scRDI, r.RDI}, {scRSI, r.RSI}, {scRBP, r.RBP}, {scRBX, r.RBX},
		{scRDX, r.RDX}, {scRAX, r.RAX}, {scRCX, r.RCX}, {scRSP, r.RSP},
		{scRIP, r.RIP}, {scEflags, r.RFLAGS},
		{scErr, s.fault.err}, {scTrapno, s.fault.trapno},
		{scOldmask, uint64(s.mask)}, {scCR2, s.fault.cr2},
	} {
		le.PutUint64(sc[f.off:], f.v)
	}
	le.PutUint16(sc[scCS:], selUserCS)
	le.PutUint16(sc[scSS:], selUserDS)
	if s.fp != nil {
		le.PutUint64(sc[scFpstate:], fp)
		copy(b[fp-frame:], s.fp)
	}
	le.PutUint64(uc[ucSigmask:], uint64(s.mask))
	if s.info != nil {
		copy(b[frInfo:], s.info)
	}
	return b
}

// sigReturnFrame is what rt_sigreturn reads back from a frame.
type sigReturnFrame struct {
	regs    kvm.Regs
	mask    sigset
	ucFlags uint64
	alt     sigaltstack // uc_stack, re-applied as by sigaltstack(2)
	fpstate uint64      // the FPU area's address, 0 for none
}

// decodeSigFrame reads a frame's rt_sigframe (frSize bytes, starting at
// pretcode). The CPU state is taken as is; sigreturn validates it.
func decodeSigFrame(b []byte) sigReturnFrame {
	le := binary.LittleEndian
	uc := b[frUC:]
	sc := uc[ucMcontext:]
	q := func(off int) uint64 { return le.Uint64(sc[off:]) }
	f := sigReturnFrame{
		regs: kvm.Regs{
			R8: q(scR8), R9: q(scR9), R10: q(scR10), R11: q(scR11),
			R12: q(scR12), R13: q(scR13), R14: q(scR14), R15: q(scR15),
			RDI: q(scRDI), RSI: q(scRSI), RBP: q(scRBP), RBX: q(scRBX),
			RDX: q(scRDX), RAX: q(scRAX), RCX: q(scRCX), RSP: q(scRSP),
			RIP: q(scRIP), RFLAGS: q(scEflags),
		},
		mask:    sigset(le.Uint64(uc[ucSigmask:])),
		ucFlags: le.Uint64(uc[ucFlags:]),
		alt:     decodeStack(uc[ucStack:]),
		fpstate: q(scFpstate),
	}
	return f
}

// frameCS returns the code selector a frame holds.
func frameCS(b []byte) uint16 {
	return binary.LittleEndian.Uint16(b[frUC+ucMcontext+scCS:])
}

// sigreturnFlags merges the flags a frame restores (FIX_EFLAGS) into the
// current ones; the rest (IF, IOPL, ...) the guest cannot change.
func sigreturnFlags(cur, frame uint64) uint64 {
	return cur&^fixEflags | frame&fixEflags | rflagsReserved | rflagsIF
}
