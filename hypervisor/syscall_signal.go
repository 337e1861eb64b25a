package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// Signal actions, masks, the alternate stack and rt_sigreturn. Sending
// is in syscall_signal_send.go, waiting in syscall_signal_wait.go.

func init() {
	registerSyscall(sysRtSigaction, sysRtSigactionFn)
	registerSyscall(sysRtSigprocmask, sysRtSigprocmaskFn)
	registerSyscall(sysSigaltstack, sysSigaltstackFn)
	registerSyscall(sysRtSigreturn, sysRtSigreturnFn)
}

// How values of rt_sigprocmask.
const (
	sigBlock   = 0
	sigUnblock = 1
	sigSetmask = 2
)

func sysRtSigactionFn(t *Thread, a SyscallArgs) (uint64, error) {
	sig := a.Int(0)
	if !validSignal(sig) || a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	var act sigaction
	if a[1] != 0 {
		if sig == sigKILL || sig == sigSTOP {
			return 0, unix.EINVAL
		}
		var b [sigactionSize]byte
		if err := t.proc.mm.CopyIn(a[1], b[:]); err != nil {
			return 0, err
		}
		act = decodeSigaction(b[:])
		act.flags &= saKnown
		act.mask &^= unblockable
	}
	old := t.proc.setAction(sig, act, a[1] != 0)
	if a[2] != 0 {
		return 0, t.proc.mm.CopyOut(a[2], old.encode())
	}
	return 0, nil
}

// setAction returns sig's action and, if set, replaces it with act. A
// signal whose new action ignores it is discarded from every queue
// (POSIX: setting SIG_IGN discards a pending signal, blocked or not).
func (p *Process) setAction(sig int, act sigaction, set bool) sigaction {
	var threads []*Thread
	if set {
		threads = p.liveThreads()
	}
	s := &p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.actions[sig-1]
	if !set {
		return old
	}
	s.actions[sig-1] = act
	if act.ignores(sig) {
		s.shared.flush(sigmask(sig))
		for _, t := range threads {
			t.sig.pending.flush(sigmask(sig))
		}
	} else if old.ignores(sig) {
		// POSIX timers parked while sig was ignored go on.
		s.timers.unpark(sig)
	}
	return old
}

func sysRtSigprocmaskFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	var set sigset
	if a[1] != 0 {
		v, err := t.proc.mm.ReadUint64(a[1])
		if err != nil {
			return 0, err
		}
		set = sigset(v)
		if how := a.Int(0); how != sigBlock && how != sigUnblock && how != sigSetmask {
			return 0, unix.EINVAL
		}
	}
	s := &t.proc.sig
	s.mu.Lock()
	old := t.sig.mask
	if a[1] != 0 {
		switch a.Int(0) {
		case sigBlock:
			t.sig.mask |= set
		case sigUnblock:
			t.sig.mask &^= set
		case sigSetmask:
			t.sig.mask = set
		}
		t.sig.mask &^= unblockable
	}
	s.mu.Unlock()
	if a[2] != 0 {
		// Signals it unblocked are delivered at the end of the call.
		return 0, t.proc.mm.WriteUint64(a[2], uint64(old))
	}
	return 0, nil
}

func sysSigaltstackFn(t *Thread, a SyscallArgs) (uint64, error) {
	sp := t.ctx.regs.RSP
	old := t.sig.alt.report(sp)
	if a[0] != 0 {
		var b [stackTSize]byte
		if err := t.proc.mm.CopyIn(a[0], b[:]); err != nil {
			return 0, err
		}
		alt, err := setAltStack(t.sig.alt, decodeStack(b[:]), sp)
		if err != nil {
			return 0, err
		}
		t.sig.alt = alt
	}
	if a[1] != 0 {
		return 0, t.proc.mm.CopyOut(a[1], old.encode())
	}
	return 0, nil
}

// sysRtSigreturnFn returns from a signal handler: the frame the
// handler's ret popped its pretcode from (RSP-8) gives back the
// registers, the FPU state, the mask and the alternate stack
// (SYSCALL_DEFINE0(rt_sigreturn), restore_sigcontext). A frame that
// cannot be read or holds an impossible state (a non-canonical RIP or
// RSP, a code segment other than 64-bit user code, FPU state XRSTOR
// would refuse) gets the thread SIGSEGV, as Linux's signal_fault.
func sysRtSigreturnFn(t *Thread, _ SyscallArgs) (uint64, error) {
	// What this call "returns" is the restored RAX: no restart checks.
	t.sig.inSyscall = false
	t.sig.restart = nil
	addr := t.ctx.regs.RSP - 8
	var b [frSize]byte
	if err := t.proc.mm.CopyIn(addr, b[:]); err != nil {
		return t.badFrame(addr, "unreadable frame")
	}
	f := decodeSigFrame(b[:])
	s := &t.proc.sig
	s.mu.Lock()
	t.sig.mask = f.mask &^ unblockable
	s.mu.Unlock()
	if !canonical(f.regs.RIP) || !canonical(f.regs.RSP) {
		return t.badFrame(addr, "non-canonical rip or rsp")
	}
	if frameCS(b[:])|3 != selUserCS {
		return t.badFrame(addr, "not a 64-bit code segment")
	}
	lay := &t.proc.vm.m.xstate
	var img []byte
	if f.fpstate != 0 {
		fb := make([]byte, lay.frameSize())
		if err := t.proc.mm.CopyIn(f.fpstate, fb); err != nil {
			return t.badFrame(addr, "unreadable FPU state")
		}
		var err error
		if img, err = lay.fromFrame(fb); err != nil {
			return t.badFrame(addr, err.Error())
		}
	}
	regs := f.regs
	regs.RFLAGS = sigreturnFlags(t.ctx.regs.RFLAGS, f.regs.RFLAGS)
	t.ctx.regs = regs
	t.ctxChanged |= ctxRegisters
	t.setFPU(img)
	if v := t.vcpu; v != nil {
		v.loadFPU(t)
	}
	// As restore_altstack: only a fault reading it counts, and it was
	// read with the frame.
	if alt, err := setAltStack(t.sig.alt, f.alt, regs.RSP); err == nil {
		t.sig.alt = alt
	}
	return regs.RAX, nil
}

// badFrame gives the thread SIGSEGV for a frame rt_sigreturn cannot use.
// The call returns 0.
func (t *Thread) badFrame(addr uint64, why string) (uint64, error) {
	t.proc.vm.log.Warn("bad signal frame in rt_sigreturn", "tid", t.tid, "frame", addr, "why", why)
	t.forceSignal(siginfo{signo: sigSEGV, code: siKernel})
	return 0, nil
}

// readSigset reads a sigset_t argument of size bytes (which must be 8).
func (t *Thread) readSigset(addr, size uint64) (sigset, error) {
	if size != sigsetSize {
		return 0, unix.EINVAL
	}
	var b [sigsetSize]byte
	if err := t.proc.mm.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return sigset(binary.LittleEndian.Uint64(b[:])), nil
}
