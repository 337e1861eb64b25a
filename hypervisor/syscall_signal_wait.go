package hypervisor

import (
	"context"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// Waiting for signals: rt_sigpending, rt_sigsuspend, pause,
// rt_sigtimedwait, and restart_syscall for sleeps a signal interrupted.

func init() {
	registerSyscall(sysRtSigpending, sysRtSigpendingFn)
	registerSyscall(sysRtSigsuspend, sysRtSigsuspendFn)
	registerSyscall(sysPause, func(t *Thread, _ SyscallArgs) (uint64, error) {
		return t.waitForSignal()
	})
	registerSyscall(sysRtSigtimedwait, sysRtSigtimedwaitFn)
	registerSyscall(sysRestartSyscall, func(t *Thread, a SyscallArgs) (uint64, error) {
		fn := t.sig.restart
		t.sig.restart = nil
		if fn == nil {
			// do_no_restart_syscall.
			return 0, unix.EINTR
		}
		return fn(t, a)
	})
}

func sysRtSigpendingFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a[1] > sigsetSize {
		return 0, unix.EINVAL
	}
	s := &t.proc.sig
	s.mu.Lock()
	set := (t.sig.pending.set | s.shared.set) & t.sig.mask
	s.mu.Unlock()
	var b [sigsetSize]byte
	for i := range b {
		b[i] = byte(set >> (8 * i))
	}
	return 0, t.proc.mm.CopyOut(a[0], b[:a[1]])
}

// sysRtSigsuspendFn replaces the mask until a signal arrives; a handler
// runs with it and its frame restores the old one.
func sysRtSigsuspendFn(t *Thread, a SyscallArgs) (uint64, error) {
	mask, err := t.readSigset(a[0], a[1])
	if err != nil {
		return 0, err
	}
	t.setTempMask(mask)
	return t.waitForSignal()
}

// setTempMask replaces t's mask for the rest of a system call; the old
// one comes back when the call returns (restoreMask).
func (t *Thread) setTempMask(mask sigset) {
	s := &t.proc.sig
	s.mu.Lock()
	if !t.sig.restoreMask {
		t.sig.savedMask, t.sig.restoreMask = t.sig.mask, true
	}
	t.sig.mask = mask &^ unblockable
	s.mu.Unlock()
}

// restoreTempMask puts back the mask setTempMask replaced, if it did.
func (t *Thread) restoreTempMask() {
	s := &t.proc.sig
	s.mu.Lock()
	if t.sig.restoreMask {
		t.sig.mask, t.sig.restoreMask = t.sig.savedMask, false
	}
	s.mu.Unlock()
}

// waitForSignal waits until a signal is deliverable (pause,
// sigsuspend): the call then ends with ERESTARTNOHAND, which a handler
// turns into EINTR and which restarts the wait otherwise.
func (t *Thread) waitForSignal() (uint64, error) {
	if t.signalPending() {
		return 0, errnoRestartNohand
	}
	return t.block(func(ctx context.Context) (uint64, error) {
		<-ctx.Done()
		return 0, errnoRestartNohand
	})
}

func sysRtSigtimedwaitFn(t *Thread, a SyscallArgs) (uint64, error) {
	set, err := t.readSigset(a[0], a[3])
	if err != nil {
		return 0, err
	}
	set &^= unblockable
	var timeout time.Duration = -1
	if a[2] != 0 {
		ts, err := t.readTimespec(a[2])
		if err != nil {
			return 0, err
		}
		timeout = time.Duration(ts.nanos())
	}
	infoAddr := a[1]
	if sig, err := t.takeSignal(set, infoAddr); sig != 0 || err != nil {
		return uint64(sig), err
	}
	if timeout == 0 {
		return 0, unix.EAGAIN
	}
	// While it waits, the signals of set are unblocked so that they wake
	// it (Linux: real_blocked); it takes them itself.
	s := &t.proc.sig
	s.mu.Lock()
	realBlocked := t.sig.mask
	t.sig.realBlocked = realBlocked
	t.sig.mask &^= set
	s.mu.Unlock()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	return t.block(func(ctx context.Context) (uint64, error) {
		timedOut := false
		if timeout > 0 {
			tm := time.NewTimer(time.Until(deadline))
			select {
			case <-ctx.Done():
			case <-tm.C:
				timedOut = true
			}
			tm.Stop()
		} else {
			<-ctx.Done()
		}
		s.mu.Lock()
		t.sig.mask = realBlocked
		t.sig.realBlocked = 0
		s.mu.Unlock()
		if sig, err := t.takeSignal(set, infoAddr); sig != 0 || err != nil {
			return uint64(sig), err
		}
		if timedOut {
			return 0, unix.EAGAIN
		}
		return 0, unix.EINTR
	})
}

// takeSignal dequeues a pending signal of set, blocked or not, and
// writes its siginfo to infoAddr (unless 0); 0 if none is pending.
func (t *Thread) takeSignal(set sigset, infoAddr uint64) (int, error) {
	info, ok := t.dequeueSignal(set)
	if !ok {
		return 0, nil
	}
	sig := int(info.signo)
	if infoAddr != 0 {
		if err := t.proc.mm.CopyOut(infoAddr, info.encode()); err != nil {
			// Linux too has taken the signal by then.
			return 0, err
		}
	}
	return sig, nil
}

// dequeueSignal takes a pending signal of set, blocked or not, from t's
// queue before the process's, synchronous ones first, then the lowest
// (dequeue_signal): the POSIX timers' hooks run, stale timer signals are
// dropped first. false if none of set is pending.
func (t *Thread) dequeueSignal(set sigset) (siginfo, bool) {
	s := &t.proc.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	t.sig.pending.dropStaleTimers()
	s.shared.dropStaleTimers()
	q := &t.sig.pending
	sig := (q.set & set).lowest()
	if sig == 0 {
		q = &s.shared
		sig = (q.set & set).lowest()
	}
	if sig == 0 {
		return siginfo{}, false
	}
	return q.take(sig), true
}

// sleepUntil waits until deadline (nanosleep, clock_nanosleep). A
// signal ends it early with EINTR, which a handler sees as EINTR, with
// the time left written to remAddr (unless 0); without a handler the
// sleep goes on through restart_syscall.
func (t *Thread) sleepUntil(deadline time.Time, remAddr uint64) (uint64, error) {
	t.sig.restart = func(t *Thread, _ SyscallArgs) (uint64, error) { return t.sleepUntil(deadline, remAddr) }
	return t.block(func(ctx context.Context) (uint64, error) {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		select {
		case <-tm.C:
			return 0, nil
		case <-ctx.Done():
		}
		if remAddr != 0 {
			left := max(time.Until(deadline), 0)
			if err := t.proc.mm.CopyOut(remAddr, timespecOf(left).encode()); err != nil {
				return 0, err
			}
		}
		return 0, unix.EINTR
	})
}
