package hypervisor

import (
	"encoding/binary"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// Clocks and sleeping: clock_gettime, clock_getres, gettimeofday, time,
// nanosleep, clock_nanosleep. Wall and monotonic clocks are the host's;
// the CPU-time clocks (cpuclock.go: the process's, a thread's, and the
// ids of clock_getcpuclockid and pthread_getcpuclockid) count the guest
// time the VMM measured around KVM_RUN.

func init() {
	registerSyscall(sysClockGettime, sysClockGettimeFn)
	registerSyscall(sysClockGetres, sysClockGetresFn)
	registerSyscall(sysGettimeofday, sysGettimeofdayFn)
	registerSyscall(sysTime, func(t *Thread, a SyscallArgs) (uint64, error) {
		now := uint64(time.Now().Unix())
		if a[0] != 0 {
			if err := t.proc.mm.WriteUint64(a[0], now); err != nil {
				return 0, err
			}
		}
		return now, nil
	})
	registerSyscall(sysNanosleep, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.sleep(clockMonotonic, 0, a[0], a[1])
	})
	registerSyscall(sysClockNanosleep, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.sleep(a.Int(0), a.Int(1), a[2], a[3])
	})
}

// Clock ids (include/uapi/linux/time.h).
const (
	clockRealtime         = 0
	clockMonotonic        = 1
	clockProcessCputimeID = 2
	clockThreadCputimeID  = 3
	clockMonotonicRaw     = 4
	clockRealtimeCoarse   = 5
	clockMonotonicCoarse  = 6
	clockBoottime         = 7
	clockTAI              = 11
	timerAbstime          = 1
)

// clockNow reads clock id for t.
func (t *Thread) clockNow(id int) (timespec, error) {
	if c, ok, err := t.cpuClockOf(id); ok {
		if err != nil {
			return timespec{}, err
		}
		n := c.nanos()
		return timespec{sec: n / 1e9, nsec: n % 1e9}, nil
	}
	switch id {
	case clockRealtime, clockMonotonic, clockMonotonicRaw, clockRealtimeCoarse, clockMonotonicCoarse, clockBoottime, clockTAI:
		var ts unix.Timespec
		if err := unix.ClockGettime(int32(id), &ts); err != nil {
			return timespec{}, err
		}
		return timespec{sec: ts.Sec, nsec: ts.Nsec}, nil
	default:
		return timespec{}, unix.EINVAL
	}
}

func sysClockGettimeFn(t *Thread, a SyscallArgs) (uint64, error) {
	ts, err := t.clockNow(a.Int(0))
	if err != nil {
		return 0, err
	}
	return 0, t.proc.mm.CopyOut(a[1], ts.encode())
}

func sysClockGetresFn(t *Thread, a SyscallArgs) (uint64, error) {
	if _, err := t.clockNow(a.Int(0)); err != nil {
		return 0, err
	}
	if a[1] == 0 {
		return 0, nil
	}
	res := timespec{nsec: 1}
	if id := a.Int(0); id == clockRealtimeCoarse || id == clockMonotonicCoarse {
		res.nsec = 4000000
	}
	return 0, t.proc.mm.CopyOut(a[1], res.encode())
}

func sysGettimeofdayFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a[0] != 0 {
		now := time.Now()
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b[0:], uint64(now.Unix()))
		binary.LittleEndian.PutUint64(b[8:], uint64(now.Nanosecond()/1000))
		if err := t.proc.mm.CopyOut(a[0], b); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		// struct timezone: always UTC.
		if err := t.proc.mm.CopyOut(a[1], make([]byte, 8)); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// sleep implements nanosleep and clock_nanosleep: the thread waits off
// its VCPU. A signal interrupts it (see sleepUntil).
func (t *Thread) sleep(clock, flags int, reqAddr, remAddr uint64) (uint64, error) {
	switch clock {
	case clockRealtime, clockMonotonic, clockBoottime, clockTAI:
	case clockThreadCputimeID:
		return 0, unix.EINVAL
	default:
		if _, err := t.clockNow(clock); err != nil {
			return 0, err
		}
		return 0, unix.EOPNOTSUPP
	}
	ts, err := t.readTimespec(reqAddr)
	if err != nil {
		return 0, err
	}
	d := time.Duration(ts.nanos())
	if flags&timerAbstime != 0 {
		now, err := t.clockNow(clock)
		if err != nil {
			return 0, err
		}
		d -= time.Duration(now.nanos())
	}
	if d <= 0 {
		return 0, nil
	}
	if flags&timerAbstime != 0 {
		remAddr = 0 // only a relative sleep reports the time left
	}
	return t.sleepUntil(time.Now().Add(d), remAddr) // syscall_signal_wait.go
}
