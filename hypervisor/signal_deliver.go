package hypervisor

import (
	"fmt"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// Signal delivery: what Linux does on the way back to user mode
// (arch_do_signal_or_restart, handle_signal, x64_setup_rt_frame). The
// VMM does it at four points, each with the thread's whole user context
// in t.ctx:
//
//   - before a VCPU switches a thread in (vcpu.loop): signals that came
//     while it waited or was queued, and system calls they interrupted;
//   - at the end of every system call (handleSyscall);
//   - when a VCPU is kicked for a signal, at a safe point (handleKicks);
//   - after a fault, for the fault's own signal (handleException).

// Kernel-internal errnos: a system call interrupted by a signal returns
// one, and delivery turns it into EINTR or a restart. They never reach
// the program.
const (
	errnoRestartSys    = unix.Errno(512) // ERESTARTSYS: restart if SA_RESTART
	errnoRestartNoint  = unix.Errno(513) // ERESTARTNOINTR: always restart
	errnoRestartNohand = unix.Errno(514) // ERESTARTNOHAND: restart unless a handler ran
	errnoRestartBlock  = unix.Errno(516) // ERESTART_RESTARTBLOCK: restart_syscall unless a handler ran
)

// sigResult is what handleSignals did.
type sigResult struct {
	regs, fpu bool // t.ctx.regs, t.ctx.fpu changed
	// fatal is a signal that ends the process (0: none); why says how,
	// for a forced SIGSEGV.
	fatal int
	why   string
}

// handleSignals acts on t's pending signals, with t's user context in
// t.ctx. A system call the thread is in and that a signal interrupted is
// resolved first (EINTR, or a restart: RAX back to the call's number and
// RIP back over the syscall instruction). Each deliverable signal is
// then ignored, ends the process (its default action: the caller does
// the exit), or gets a frame and a handler: the first handler to run is
// the last frame built. fetchFPU, if not nil, makes t.ctx.fpu current
// before a frame is built. Runs on the goroutine that owns t.
func (t *Thread) handleSignals(fetchFPU func() error) sigResult {
	var r sigResult
	inSys := t.sig.inSyscall
	t.sig.inSyscall = false
	if inSys && t.sig.waited && int64(t.ctx.regs.RAX) == -int64(unix.EINTR) {
		t.ctx.regs.RAX = errnoReturn(restartClass(t.sig.sysNr, &t.ctx.regs))
	}
	t.sig.waited = false
	handled := false
	for i := 0; i < 2*numSignals; i++ {
		info, act, ok := t.nextSignal()
		if !ok {
			break
		}
		sig := int(info.signo)
		if act.fatal(sig) {
			r.fatal = sig
			return r
		}
		if act.ignores(sig) {
			continue
		}
		if inSys && !handled {
			t.restartForHandler(act)
			r.regs = true
		}
		if fetchFPU != nil {
			if err := fetchFPU(); err != nil {
				t.proc.vm.log.Error("cannot read FPU state for a signal frame", "tid", t.tid, "err", err)
			}
			fetchFPU = nil
		}
		if err := t.setupFrame(sig, &info, act); err != nil {
			why := fmt.Sprintf("cannot deliver %s: %v", signalName(sig), err)
			t.proc.vm.log.Warn("signal frame setup failed", "tid", t.tid, "signal", sig, "rsp", t.ctx.regs.RSP, "err", err)
			if sig == sigSEGV {
				r.fatal, r.why = sigSEGV, why
				return r
			}
			if t.forceSignal(siginfo{signo: sigSEGV, code: siKernel}) {
				r.fatal, r.why = sigSEGV, why
				return r
			}
			continue
		}
		handled = true
		r.regs, r.fpu = true, true
	}
	if inSys && !handled && t.restartNoHandler() {
		r.regs = true
	}
	if !handled {
		s := &t.proc.sig
		s.mu.Lock()
		if t.sig.restoreMask {
			t.sig.mask, t.sig.restoreMask = t.sig.savedMask, false
		}
		s.mu.Unlock()
	}
	return r
}

// needSignalWork reports whether handleSignals has something to do:
// pending signals, a mask to restore, or an interrupted system call (a
// wait that ended in EINTR restarts if no handler runs, even when the
// signal that ended it went to another thread).
func (t *Thread) needSignalWork() bool {
	if t.sig.inSyscall {
		rax := t.ctx.regs.RAX
		if isRestartErrno(rax) || t.sig.waited && rax == errnoReturn(unix.EINTR) {
			return true
		}
	}
	s := &t.proc.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.deliverable() != 0 || t.sig.restoreMask
}

func isRestartErrno(rax uint64) bool {
	switch unix.Errno(-int64(rax)) {
	case errnoRestartSys, errnoRestartNoint, errnoRestartNohand, errnoRestartBlock:
		return true
	}
	return false
}

// restartForHandler resolves an interrupted system call before a
// handler runs: EINTR, unless the call restarts anyway (ERESTARTNOINTR)
// or the action has SA_RESTART (ERESTARTSYS).
func (t *Thread) restartForHandler(act sigaction) {
	switch unix.Errno(-int64(t.ctx.regs.RAX)) {
	case errnoRestartBlock, errnoRestartNohand:
		t.ctx.regs.RAX = errnoReturn(unix.EINTR)
	case errnoRestartSys:
		if act.flags&saRestart == 0 {
			t.ctx.regs.RAX = errnoReturn(unix.EINTR)
			return
		}
		t.restartSyscall(t.sig.sysNr)
	case errnoRestartNoint:
		t.restartSyscall(t.sig.sysNr)
	}
	t.sig.restart = nil
}

// restartNoHandler restarts an interrupted system call when no handler
// ran; it reports whether it did.
func (t *Thread) restartNoHandler() bool {
	switch unix.Errno(-int64(t.ctx.regs.RAX)) {
	case errnoRestartSys, errnoRestartNoint, errnoRestartNohand:
		t.restartSyscall(t.sig.sysNr)
		return true
	case errnoRestartBlock:
		t.restartSyscall(sysRestartSyscall)
		return true
	}
	return false
}

// restartSyscall makes the thread issue system call nr again: RIP goes
// back over the two-byte syscall instruction, with the arguments still in
// their registers.
func (t *Thread) restartSyscall(nr uint64) {
	t.ctx.regs.RAX = nr
	t.ctx.regs.RIP -= 2
}

// restartClass is how system call nr continues when a signal interrupts
// its wait (the errno Linux returns from it); regs holds its arguments.
func restartClass(nr uint64, regs *kvm.Regs) unix.Errno {
	switch nr {
	case sysRead, sysWrite, sysReadv, sysWritev, sysPread64, sysPwrite64, sysPreadv, sysPwritev,
		sysPreadv2, sysPwritev2, sysIoctl, sysFcntl, sysFlock, sysOpen, sysOpenat, sysWait4, sysWaitid,
		sysAccept, sysAccept4, sysConnect, sysRecvfrom, sysRecvmsg, sysSendto, sysSendmsg,
		sysSplice, sysTee, sysVmsplice:
		return errnoRestartSys
	case sysFutex:
		// FUTEX_WAIT without a timeout restarts with SA_RESTART; with
		// one it returns EINTR to a handler and restarts otherwise.
		if regs.R10 == 0 {
			return errnoRestartSys
		}
		return errnoRestartNohand
	case sysNanosleep, sysRestartSyscall:
		return errnoRestartBlock
	case sysClockNanosleep:
		if regs.RSI&timerAbstime != 0 {
			return errnoRestartNohand
		}
		return errnoRestartBlock
	case sysPoll:
		// Without a handler, on to the same deadline (do_restart_poll).
		return errnoRestartBlock
	case sysPpoll, sysSelect, sysPselect6, sysRtSigsuspend, sysPause:
		// select, ppoll and pselect6 wrote the time left to their
		// timeout first.
		return errnoRestartNohand
	case sysEpollWait, sysEpollPwait, sysEpollPwait2:
		// ep_poll returns EINTR, handler or not; so does Go's netpoller
		// expect.
		return unix.EINTR
	default:
		return unix.EINTR
	}
}

// setupFrame builds the frame for a handler of sig on the thread's
// stack (or alternate stack) and points t.ctx at the handler, as
// x64_setup_rt_frame and signal_delivered do. It fails, changing
// nothing, when the action has no restorer, the handler address is not
// canonical, or the frame cannot be written (EFAULT) or would overflow
// the alternate stack.
func (t *Thread) setupFrame(sig int, info *siginfo, act sigaction) error {
	if act.flags&saRestorer == 0 || !canonical(act.handler) {
		return unix.EFAULT
	}
	m := t.proc.vm.m
	s := &t.proc.sig
	s.mu.Lock()
	saved := t.sig.mask
	if t.sig.restoreMask {
		saved = t.sig.savedMask
	}
	s.mu.Unlock()
	alt := t.sig.alt
	lay := &m.xstate
	frame, fp, ok := placeSigFrame(t.ctx.regs.RSP, act.flags&saOnstack != 0, alt, uint64(lay.frameSize()))
	if !ok {
		return fmt.Errorf("alternate signal stack overflow: %w", unix.EFAULT)
	}
	img := t.ctx.fpu
	if img == nil {
		img = m.initFPU
	}
	spec := sigFrameSpec{
		regs:     t.ctx.regs,
		mask:     saved,
		alt:      alt.frameValue(),
		fault:    t.sig.fault,
		restorer: act.restorer,
		ucFlags:  lay.ucFlags(),
		fp:       lay.toFrame(img),
	}
	if act.flags&saSiginfo != 0 {
		spec.info = info.encode()
	}
	if err := t.proc.mm.CopyOut(frame, buildSigFrame(&spec, frame, fp)); err != nil {
		return err
	}
	r := &t.ctx.regs
	r.RDI, r.RSI, r.RDX, r.RAX = uint64(sig), frame+frInfo, frame+frUC, 0
	r.RIP, r.RSP = act.handler, frame
	r.RFLAGS &^= handlerClearEflags
	s.mu.Lock()
	mask := t.sig.mask | act.mask
	if act.flags&saNodefer == 0 {
		mask |= sigmask(sig)
	}
	t.sig.mask, t.sig.restoreMask = mask&^unblockable, false
	s.mu.Unlock()
	if alt.flags&ssAutodisarm != 0 {
		t.sig.alt = sigaltstack{}
	}
	// The handler starts with the initial FPU state
	// (fpu__clear_user_states).
	t.setFPU(nil)
	t.proc.vm.stats.signals.Add(1)
	t.pmuSignalDelivered()
	return nil
}

// frameValue is the uc_stack a frame records: the stack as set, or
// SS_DISABLE when there is none.
func (s sigaltstack) frameValue() sigaltstack {
	if s.size == 0 {
		return sigaltstack{flags: ssDisable}
	}
	return s
}

// setFPU replaces t's saved FPU image (nil: the initial state). The
// VCPU must load it before the thread runs again (vcpu.loadFPU).
func (t *Thread) setFPU(img []byte) {
	switch {
	case img == nil && t.ctx.fpu != nil:
		copy(t.ctx.fpu, t.proc.vm.m.initFPU)
	case img != nil && t.ctx.fpu != nil:
		copy(t.ctx.fpu, img)
	default:
		t.ctx.fpu = img
	}
	t.ctx.fpuGen++
}
