package hypervisor

import (
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// futex(2): WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAIT_BITSET, WAKE_BITSET,
// with timeouts and the PRIVATE and CLOCK_REALTIME flags. PI futexes and
// WAKE_OP return ENOSYS.

func init() { registerSyscall(sysFutex, sysFutexFn) }

// Futex operations and flags (include/uapi/linux/futex.h).
const (
	futexWait          = 0
	futexWake          = 1
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWakeOp        = 5
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivateFlag   = 128
	futexClockRealtime = 256
	futexCmdMask       = ^(futexPrivateFlag | futexClockRealtime)
	futexBitsetAny     = 0xffffffff
)

// futexOp is a decoded futex operation word.
type futexOp struct {
	cmd      int
	private  bool
	realtime bool
}

// decodeFutexOp splits the op argument. CLOCK_REALTIME is only valid
// with the wait commands that take an absolute time (ENOSYS otherwise, as
// in Linux).
func decodeFutexOp(op int) (futexOp, error) {
	f := futexOp{cmd: op & futexCmdMask, private: op&futexPrivateFlag != 0, realtime: op&futexClockRealtime != 0}
	if f.realtime && f.cmd != futexWaitBitset && f.cmd != futexWait {
		return f, unix.ENOSYS
	}
	return f, nil
}

func sysFutexFn(t *Thread, a SyscallArgs) (uint64, error) {
	op, err := decodeFutexOp(a.Int(1))
	if err != nil {
		return 0, err
	}
	addr, val := a[0], a.Uint32(2)
	ft := t.proc.futexes
	switch op.cmd {
	case futexWait, futexWaitBitset:
		bitset := uint32(futexBitsetAny)
		if op.cmd == futexWaitBitset {
			if bitset = a.Uint32(5); bitset == 0 {
				return 0, unix.EINVAL
			}
		}
		var deadline time.Time
		if a[3] != 0 {
			ts, err := t.readTimespec(a[3])
			if err != nil {
				return 0, err
			}
			deadline = futexDeadline(ts, op)
		}
		w, err := ft.enqueue(t.proc.mm, addr, val, bitset, t, deadline)
		if err != nil {
			return 0, err
		}
		return t.park(w)
	case futexWake, futexWakeBitset:
		bitset := uint32(futexBitsetAny)
		if op.cmd == futexWakeBitset {
			if bitset = a.Uint32(5); bitset == 0 {
				return 0, unix.EINVAL
			}
		}
		return uint64(ft.wake(addr, max(a.Int(2), 0), bitset)), nil
	case futexRequeue, futexCmpRequeue:
		// val is how many to wake; the timeout argument's slot (a[3])
		// holds how many to requeue; a[5] the expected value.
		nwake, nmove := a.Int(2), int(int32(a[3]))
		if nwake < 0 || nmove < 0 {
			return 0, unix.EINVAL
		}
		n, err := ft.requeue(t.proc.mm, addr, a[4], nwake, nmove, op.cmd == futexCmpRequeue, a.Uint32(5))
		return uint64(n), err
	default:
		t.proc.vm.reportUnimplemented(sysFutex)
		return 0, unix.ENOSYS
	}
}

// futexDeadline converts a futex timeout: relative for FUTEX_WAIT,
// absolute on CLOCK_MONOTONIC (or CLOCK_REALTIME with the flag) for
// FUTEX_WAIT_BITSET.
func futexDeadline(ts timespec, op futexOp) time.Time {
	d := time.Duration(ts.nanos())
	if op.cmd == futexWait {
		return time.Now().Add(d)
	}
	clock := unix.CLOCK_MONOTONIC
	if op.realtime {
		clock = unix.CLOCK_REALTIME
	}
	var now unix.Timespec
	unix.ClockGettime(int32(clock), &now)
	return time.Now().Add(d - time.Duration(now.Nano()))
}
