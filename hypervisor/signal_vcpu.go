package hypervisor

import (
	"encoding/binary"
	"syscall"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// The VCPU side of signal delivery: moving a running thread's context
// between the VCPU and t.ctx around handleSignals, at the end of a system
// call, at a kick, and after a fault.

// signalsAtResume handles signals for t before a VCPU switches it in,
// with its whole context in t.ctx.
func (t *Thread) signalsAtResume() {
	if !t.needSignalWork() {
		t.sig.inSyscall, t.sig.waited = false, false
		return
	}
	r := t.handleSignals(nil)
	t.finishSignals(r)
}

// finishSignals ends the process for a fatal signal.
func (t *Thread) finishSignals(r sigResult) {
	if r.fatal == 0 {
		return
	}
	if r.why != "" {
		t.proc.vm.log.Warn("guest killed by a forced signal", "tid", t.tid, "signal", r.fatal, "why", r.why)
	}
	t.proc.exit(ExitStatus{Signal: syscall.Signal(r.fatal)}, nil)
}

// signalsAtSyscallExit runs at the end of every system call that does
// not wait: t.ctx holds the registers (RAX the result), the FPU is in the
// VCPU. When it changes the registers it marks them for handleSyscall to
// load in full.
func (v *vcpu) signalsAtSyscallExit(t *Thread) {
	if !t.needSignalWork() {
		t.sig.inSyscall, t.sig.waited = false, false
		return
	}
	r := t.handleSignals(func() error { return v.saveFPU(t) })
	if r.regs {
		t.ctxChanged |= ctxRegisters
	}
	if r.fpu {
		v.loadFPU(t)
	}
	t.finishSignals(r)
}

// signalsAtKick delivers signals to t at a safe point in its own code,
// after a kick for a signal: the context moves from the VCPU to t.ctx
// and back.
func (v *vcpu) signalsAtKick(t *Thread) {
	t.sig.inSyscall = false
	if !t.needSignalWork() {
		return
	}
	t.ctx.regs = v.run.Sync.Regs
	t.ctx.fsBase, t.ctx.gsBase = v.run.Sync.Sregs.FS.Base, v.run.Sync.Sregs.GS.Base
	r := t.handleSignals(func() error { return v.saveFPU(t) })
	if r.regs {
		v.setRegs(&t.ctx.regs)
	}
	if r.fpu {
		v.loadFPU(t)
	}
	t.finishSignals(r)
}

// signalForFault turns a fault in t's code into its signal (traps.c,
// fault.c). If a handler takes it, the handler's frame is built, the VCPU
// is set to run it, and handled is true; handled is true as well for a
// spurious FPU exception, which sends nothing. Otherwise nothing changed
// and the caller reports the crash: the signal is fatal (no handler, or
// blocked or ignored, which forcing resets), or, with why set, a handler
// existed but its frame could not be built, and sig is the signal that
// kills (SIGSEGV).
func (v *vcpu) signalForFault(t *Thread, f excFrame, regs kvm.Regs, cr2 uint64) (handled bool, sig syscall.Signal, why string) {
	var fpu []byte
	if f.vector == vecMF || f.vector == vecXM {
		if err := v.saveFPU(t); err == nil {
			fpu = t.ctx.fpu
		}
	}
	info := faultSiginfo(int(f.vector), f.rip, cr2, t.proc.mm.hasVMA(cr2), fpu)
	if info.signo == 0 {
		// A spurious FPU exception: resume the instruction.
		v.resumeUser(t, regs)
		return true, 0, ""
	}
	if t.forceSignal(info) {
		// Take it back: the crash report says the same.
		t.dropPending(int(info.signo))
		return false, 0, ""
	}
	t.sig.fault = faultInfo{trapno: f.vector, err: f.errorCode}
	if f.vector == vecPF {
		t.sig.fault.cr2 = cr2
	}
	t.sig.inSyscall = false
	t.ctx.regs = regs
	t.ctx.fsBase, t.ctx.gsBase = v.run.Sync.Sregs.FS.Base, v.run.Sync.Sregs.GS.Base
	r := t.handleSignals(func() error { return v.saveFPU(t) })
	if r.fatal != 0 && r.why != "" {
		return false, syscall.Signal(r.fatal), r.why
	}
	// Another pending signal may have been fatal first: the process
	// ends all the same, without this fault's report.
	t.finishSignals(r)
	v.resumeUser(t, t.ctx.regs)
	if r.fpu {
		v.loadFPU(t)
	}
	return true, 0, ""
}

// resumeUser makes the VCPU, stopped in an exception stub, continue in
// user mode with regs.
func (v *vcpu) resumeUser(t *Thread, regs kvm.Regs) {
	v.setRegs(&regs)
	s := v.run.Sync.Sregs
	userSegments(&s)
	v.setSregs(&s)
}

// saveFPU reads the VCPU's FPU state into t.ctx.fpu; the VCPU keeps
// holding it.
func (v *vcpu) saveFPU(t *Thread) error {
	if t.ctx.fpu == nil {
		t.ctx.fpu = make([]byte, v.vm.m.xsaveSize)
	}
	err := v.k.XSave(t.ctx.fpu, v.vm.m.xsave2)
	t.ctx.fpuGen++
	v.loaded, v.loadedGen = t, t.ctx.fpuGen
	return err
}

// loadFPU loads t.ctx.fpu (nil: the initial state) into the VCPU.
func (v *vcpu) loadFPU(t *Thread) {
	fpu := t.ctx.fpu
	if fpu == nil {
		fpu = v.vm.m.initFPU
	}
	if err := v.k.SetXSave(fpu); err != nil {
		v.vm.log.Error("cannot load FPU state", "tid", t.tid, "err", err)
		v.loaded = nil
		return
	}
	v.loaded, v.loadedGen = t, t.ctx.fpuGen
}

// dropPending removes one pending instance of sig from t's own queue.
func (t *Thread) dropPending(sig int) {
	s := &t.proc.sig
	s.mu.Lock()
	if t.sig.pending.set.has(sig) {
		t.sig.pending.take(sig)
	}
	s.mu.Unlock()
}

// faultSiginfo is the siginfo Linux sends for exception vector in user
// mode (arch/x86/kernel/traps.c, arch/x86/mm/fault.c). rip is the
// faulting instruction, cr2 the page-fault address, mapped whether a
// mapping covers it (SEGV_ACCERR rather than SEGV_MAPERR), fpu the FPU
// image for x87 and SIMD exceptions (nil if unknown). signo is 0 for a
// spurious FPU exception, which sends nothing.
func faultSiginfo(vector int, rip, cr2 uint64, mapped bool, fpu []byte) siginfo {
	si := siginfo{signo: int32(faultSignal(vector)), code: siKernel}
	switch vector {
	case vecDE:
		si.code, si.addr = fpeIntdiv, rip
	case vecUD:
		si.code, si.addr = illIllopn, rip
	case vecPF:
		si.code, si.addr = segvMaperr, cr2
		if mapped {
			si.code = segvAccerr
		}
	case vecAC:
		si.code = busAdraln
	case vecDB:
		si.code, si.addr = trapTrace, rip
	case vecMF, vecXM:
		si.code, si.addr = fpuExceptionCode(vector, fpu), rip
		if si.code == 0 {
			si.signo = 0
		}
	}
	return si
}

// fpuExceptionCode is fpu__exception_code: the si_code of the highest
// priority unmasked exception the x87 status word (#MF) or MXCSR (#XM)
// reports, 0 for none. Without the FPU image it guesses FPE_FLTINV.
func fpuExceptionCode(vector int, fpu []byte) int32 {
	if len(fpu) < fxsaveSize {
		return fpeFltinv
	}
	le := binary.LittleEndian
	var err uint32
	if vector == vecMF {
		cwd, swd := uint32(le.Uint16(fpu[fxFCW:])), uint32(le.Uint16(fpu[fxFSW:]))
		err = swd &^ cwd
	} else {
		mxcsr := le.Uint32(fpu[fxMXCSR:])
		err = ^(mxcsr >> 7) & mxcsr
	}
	switch {
	case err&0x01 != 0:
		return fpeFltinv
	case err&0x04 != 0:
		return fpeFltdiv
	case err&0x08 != 0:
		return fpeFltovf
	case err&0x12 != 0:
		return fpeFltund
	case err&0x20 != 0:
		return fpeFltres
	}
	return 0
}

// hasVMA reports whether a mapping covers addr.
func (m *MM) hasVMA(addr uint64) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, _ := m.vmas.find(addr)
	return i >= 0
}
