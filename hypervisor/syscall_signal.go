package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// Signal state, without delivery: rt_sigaction and rt_sigprocmask record
// and report what the program sets, so that C libraries and runtimes
// start up. Delivering signals (handlers, sigreturn, kill/tgkill,
// sigaltstack, fatal-signal defaults beyond faults) is the signals
// family's work; until then a fault is always fatal.

func init() {
	registerSyscall(sysRtSigaction, sysRtSigactionFn)
	registerSyscall(sysRtSigprocmask, sysRtSigprocmaskFn)
}

const (
	numSignals  = 64
	sigsetSize  = 8
	sigactSize  = 32 // struct sigaction as the kernel sees it on x86-64
	sigKill     = 9
	sigStop     = 19
	sigBlock    = 0
	sigUnblock  = 1
	sigSetmask  = 2
	unblockable = 1<<(sigKill-1) | 1<<(sigStop-1)
)

// sigactions is the process's table of signal actions, as raw kernel
// struct sigaction bytes; Process.mu protects it.
type sigactions [numSignals][sigactSize]byte

func sysRtSigactionFn(t *Thread, a SyscallArgs) (uint64, error) {
	sig := a.Int(0)
	if sig < 1 || sig > numSignals || a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	var act [sigactSize]byte
	if a[1] != 0 {
		if sig == sigKill || sig == sigStop {
			return 0, unix.EINVAL
		}
		if err := t.proc.mm.CopyIn(a[1], act[:]); err != nil {
			return 0, err
		}
	}
	p := t.proc
	p.mu.Lock()
	old := p.sigacts[sig-1]
	if a[1] != 0 {
		p.sigacts[sig-1] = act
	}
	p.mu.Unlock()
	if a[2] != 0 {
		return 0, p.mm.CopyOut(a[2], old[:])
	}
	return 0, nil
}

func sysRtSigprocmaskFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	old := t.sigMask
	if a[1] != 0 {
		var b [sigsetSize]byte
		if err := t.proc.mm.CopyIn(a[1], b[:]); err != nil {
			return 0, err
		}
		set := binary.LittleEndian.Uint64(b[:])
		switch a.Int(0) {
		case sigBlock:
			t.sigMask |= set
		case sigUnblock:
			t.sigMask &^= set
		case sigSetmask:
			t.sigMask = set
		default:
			return 0, unix.EINVAL
		}
		t.sigMask &^= unblockable
	}
	if a[2] != 0 {
		var b [sigsetSize]byte
		binary.LittleEndian.PutUint64(b[:], old)
		return 0, t.proc.mm.CopyOut(a[2], b[:])
	}
	return 0, nil
}
