package hypervisor

import (
	"errors"
	"syscall"

	"github.com/vpmu/vpmu/internal/unix"
)

// Sending signals within the guest process: kill, tkill, tgkill,
// rt_sigqueueinfo, rt_tgsigqueueinfo; and VM.Signal for the host.

func init() {
	registerSyscall(sysKill, sysKillFn)
	registerSyscall(sysTkill, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.sendToThread(t.proc.pid, a.Int(0), a.Int(1), nil)
	})
	registerSyscall(sysTgkill, func(t *Thread, a SyscallArgs) (uint64, error) {
		if a.Int(0) <= 0 {
			return 0, unix.EINVAL
		}
		return 0, t.sendToThread(a.Int(0), a.Int(1), a.Int(2), nil)
	})
	registerSyscall(sysRtSigqueueinfo, func(t *Thread, a SyscallArgs) (uint64, error) {
		info, err := t.readQueuedInfo(a.Int(1), a[2])
		if err != nil {
			return 0, err
		}
		if a.Int(0) != t.proc.pid {
			return 0, t.otherProcess(a.Int(0))
		}
		return 0, t.proc.sendSignal(info, nil, t)
	})
	registerSyscall(sysRtTgsigqueueinfo, func(t *Thread, a SyscallArgs) (uint64, error) {
		info, err := t.readQueuedInfo(a.Int(2), a[3])
		if err != nil {
			return 0, err
		}
		if a.Int(0) <= 0 {
			return 0, unix.EINVAL
		}
		return 0, t.sendToThread(a.Int(0), a.Int(1), a.Int(2), &info)
	})
}

// senderInfo is the siginfo of a signal t sends with kill (SI_USER) or
// tkill/tgkill (SI_TKILL).
func (t *Thread) senderInfo(sig int, code int32) siginfo {
	return siginfo{signo: int32(sig), code: code, pid: uint32(t.proc.pid), uid: uint32(unix.Getuid())}
}

// otherProcess is the error for a pid that is not the guest process:
// EPERM for its parent, which exists outside the sandbox and may not be
// signalled, ESRCH for anything else.
func (t *Thread) otherProcess(pid int) error {
	if pid == guestPPID {
		return unix.EPERM
	}
	return unix.ESRCH
}

func sysKillFn(t *Thread, a SyscallArgs) (uint64, error) {
	pid, sig := a.Int(0), a.Int(1)
	if sig < 0 || sig > numSignals {
		return 0, unix.EINVAL
	}
	p := t.proc
	switch {
	case pid == p.pid, pid == 0, pid == -p.pid:
		// The process itself, or its process group (the guest process
		// leads its own group and is alone in it).
	case pid == -1:
		// Every process but init and the caller: none here.
		return 0, unix.ESRCH
	default:
		if pid < 0 {
			return 0, unix.ESRCH
		}
		return 0, t.otherProcess(pid)
	}
	if sig == 0 {
		return 0, nil
	}
	return 0, p.sendSignal(t.senderInfo(sig, siUser), nil, t)
}

// sendToThread sends sig to thread tid of thread group tgid (tkill,
// tgkill, rt_tgsigqueueinfo with info): EINVAL for a bad signal or tid,
// ESRCH for a thread that does not exist.
func (t *Thread) sendToThread(tgid, tid, sig int, info *siginfo) error {
	if sig < 0 || sig > numSignals || tid <= 0 {
		return unix.EINVAL
	}
	if tgid != t.proc.pid {
		return unix.ESRCH
	}
	target := t.proc.thread(tid)
	if target == nil {
		return unix.ESRCH
	}
	if sig == 0 {
		return nil
	}
	si := t.senderInfo(sig, siTkill)
	if info != nil {
		si = *info
	}
	return t.proc.sendSignal(si, target, t)
}

// readQueuedInfo reads the siginfo of rt_sigqueueinfo. A process may
// queue any si_code to itself (Linux refuses kernel codes and SI_TKILL
// only towards other processes); si_signo is set to sig.
func (t *Thread) readQueuedInfo(sig int, addr uint64) (siginfo, error) {
	if !validSignal(sig) {
		return siginfo{}, unix.EINVAL
	}
	var b [siginfoSize]byte
	if err := t.proc.mm.CopyIn(addr, b[:]); err != nil {
		return siginfo{}, err
	}
	info := decodeSiginfo(b[:])
	info.signo = int32(sig)
	return info, nil
}

// ErrNotRunning is returned by VM.Signal when no program runs.
var ErrNotRunning = errors.New("no guest program is running")

// Signal sends sig to the guest process as kill(2) from outside it
// would (si_code SI_USER, si_pid 0): a thread that does not block it
// runs its handler, or its default action applies (SIGKILL always
// kills). vpmu run forwards SIGINT and SIGTERM this way. It returns
// ErrNotRunning before Run started a program or after it ended, and
// EINVAL for a number outside 1-64. Safe for concurrent use.
func (vm *VM) Signal(sig syscall.Signal) error {
	if !validSignal(int(sig)) {
		return unix.EINVAL
	}
	vm.mu.Lock()
	p := vm.proc
	vm.mu.Unlock()
	if p == nil || p.exiting.Load() {
		return ErrNotRunning
	}
	select {
	case <-p.done:
		return ErrNotRunning
	default:
	}
	return p.sendSignal(siginfo{signo: int32(sig), code: siUser, uid: uint32(unix.Getuid())}, nil, nil)
}
