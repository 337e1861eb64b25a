package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// Signal state, without delivery: rt_sigaction, rt_sigprocmask and
// sigaltstack record and report what the program sets, so that C libraries and runtimes
// start up. Delivering signals (handlers, sigreturn, kill/tgkill, the
// alternate stack, fatal-signal defaults beyond faults) is the signals
// family's work; until then a fault is always fatal.

func init() {
	registerSyscall(sysRtSigaction, sysRtSigactionFn)
	registerSyscall(sysRtSigprocmask, sysRtSigprocmaskFn)
	registerSyscall(sysSigaltstack, sysSigaltstackFn)
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

// stack_t flags and sizes.
const (
	ssOnstack    = 1
	ssDisable    = 2
	ssAutodisarm = 1 << 31
	stackTSize   = 24 // stack_t: ss_sp, ss_flags (+pad), ss_size
	minSigStkSz  = 2048
)

// sigaltstack records the thread's alternate signal stack.
type sigaltstack struct {
	sp, size uint64
	flags    uint32
}

func (s sigaltstack) encode() []byte {
	b := make([]byte, stackTSize)
	binary.LittleEndian.PutUint64(b[0:], s.sp)
	binary.LittleEndian.PutUint32(b[8:], s.flags)
	binary.LittleEndian.PutUint64(b[16:], s.size)
	return b
}

func sysSigaltstackFn(t *Thread, a SyscallArgs) (uint64, error) {
	old := t.altStack
	if old.size == 0 {
		old.flags = ssDisable
	}
	if a[0] != 0 {
		var b [stackTSize]byte
		if err := t.proc.mm.CopyIn(a[0], b[:]); err != nil {
			return 0, err
		}
		ss := sigaltstack{
			sp:    binary.LittleEndian.Uint64(b[0:]),
			flags: binary.LittleEndian.Uint32(b[8:]),
			size:  binary.LittleEndian.Uint64(b[16:]),
		}
		switch ss.flags &^ ssAutodisarm {
		case 0, ssOnstack:
			if ss.size < minSigStkSz {
				return 0, unix.ENOMEM
			}
		case ssDisable:
			ss = sigaltstack{}
		default:
			return 0, unix.EINVAL
		}
		t.altStack = ss
	}
	if a[1] != 0 {
		return 0, t.proc.mm.CopyOut(a[1], old.encode())
	}
	return 0, nil
}
