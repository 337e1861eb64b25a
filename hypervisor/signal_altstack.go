package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// The alternate signal stack (sigaltstack(2)), with Linux's semantics
// (kernel/signal.c: do_sigaltstack, on_sig_stack, sas_ss_flags).

// stack_t flags and sizes.
const (
	ssOnstack    = 1
	ssDisable    = 2
	ssAutodisarm = 1 << 31
	stackTSize   = 24   // stack_t: ss_sp, ss_flags (int, padded), ss_size
	minSigStkSz  = 2048 // MINSIGSTKSZ
)

// sigaltstack is a thread's alternate signal stack. flags holds what the
// program passed (SS_AUTODISARM, or SS_ONSTACK, which Linux keeps as
// given), or SS_DISABLE when there is none; this is what a signal frame's
// uc_stack records.
type sigaltstack struct {
	sp, size uint64
	flags    uint32
}

// contains reports whether sp lies on the stack (__on_sig_stack: the
// stack grows down from sp+size, and its top is on it).
func (s sigaltstack) contains(sp uint64) bool {
	return sp > s.sp && sp-s.sp <= s.size
}

// onStack reports whether a thread at sp runs on its alternate stack. A
// stack set with SS_AUTODISARM never counts: it is disarmed while used.
func (s sigaltstack) onStack(sp uint64) bool {
	if s.flags&ssAutodisarm != 0 {
		return false
	}
	return s.contains(sp)
}

// flagsAt is sas_ss_flags: SS_DISABLE without a stack, SS_ONSTACK while
// running on it, else 0.
func (s sigaltstack) flagsAt(sp uint64) uint32 {
	switch {
	case s.size == 0:
		return ssDisable
	case s.onStack(sp):
		return ssOnstack
	default:
		return 0
	}
}

// report is the stack_t sigaltstack(2) returns to a thread at sp.
func (s sigaltstack) report(sp uint64) sigaltstack {
	r := s
	r.flags = s.flagsAt(sp) | s.flags&ssAutodisarm
	return r
}

func (s sigaltstack) encode() []byte {
	b := make([]byte, stackTSize)
	binary.LittleEndian.PutUint64(b[0:], s.sp)
	binary.LittleEndian.PutUint32(b[8:], s.flags)
	binary.LittleEndian.PutUint64(b[16:], s.size)
	return b
}

func decodeStack(b []byte) sigaltstack {
	return sigaltstack{
		sp:    binary.LittleEndian.Uint64(b[0:]),
		flags: binary.LittleEndian.Uint32(b[8:]),
		size:  binary.LittleEndian.Uint64(b[16:]),
	}
}

// setAltStack applies a new stack_t as do_sigaltstack does for a thread
// at sp, returning the thread's new stack or an errno: EPERM while on the
// current one, EINVAL for unknown flags, ENOMEM below MINSIGSTKSZ.
func setAltStack(cur, ss sigaltstack, sp uint64) (sigaltstack, error) {
	if cur.onStack(sp) {
		return cur, unix.EPERM
	}
	switch ss.flags &^ ssAutodisarm {
	case ssDisable:
		return sigaltstack{flags: ssDisable}, nil
	case 0, ssOnstack:
		if ss.size < minSigStkSz {
			return cur, unix.ENOMEM
		}
		return ss, nil
	default:
		return cur, unix.EINVAL
	}
}
