package hypervisor

import (
	"encoding/binary"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// What POSIX timers and timerfds share: struct itimerspec, struct
// sigevent, the clocks they may run on, and the arithmetic of periodic
// expiry. Everything here is pure; the live timers are in
// timer_posix.go and syscall_timerfd.go.

// itimerspecSize is sizeof(struct itimerspec): it_interval, it_value.
const itimerspecSize = 2 * timespecSize

// itimerspec is a timer setting: the first expiry (zero: disarmed) and
// the period after it (zero: one-shot).
type itimerspec struct {
	interval, value timespec
}

// readItimerspec reads and decodes the struct itimerspec at addr.
func (t *Thread) readItimerspec(addr uint64) (itimerspec, error) {
	var b [itimerspecSize]byte
	if err := t.proc.mm.CopyIn(addr, b[:]); err != nil {
		return itimerspec{}, err
	}
	return decodeItimerspec(b[:])
}

// decodeItimerspec decodes and validates a struct itimerspec: EINVAL if
// either timespec is negative or has nanoseconds out of range
// (itimerspec64_valid). b must hold itimerspecSize bytes.
func decodeItimerspec(b []byte) (itimerspec, error) {
	if len(b) < itimerspecSize {
		return itimerspec{}, unix.EINVAL
	}
	iv, err := decodeTimespec(b[:timespecSize])
	if err != nil {
		return itimerspec{}, err
	}
	v, err := decodeTimespec(b[timespecSize:])
	if err != nil {
		return itimerspec{}, err
	}
	return itimerspec{interval: iv, value: v}, nil
}

// encodeItimerspec lays out a setting reported as durations (not
// negative): the period and the time to the next expiry.
func encodeItimerspec(interval, value time.Duration) []byte {
	return append(timespecOf(interval).encode(), timespecOf(value).encode()...)
}

// The alarm clocks (include/uapi/linux/time.h). Timers on them need
// CAP_WAKE_ALARM, which the guest does not have (EPERM).
const (
	clockRealtimeAlarm = 8
	clockBoottimeAlarm = 9
)

// timerfdClockErr returns the error timerfd_create gives for clock: nil
// for the supported ones, EPERM for the alarm clocks, EINVAL for every
// other (timerfd_create accepts no CPU-time clock).
func timerfdClockErr(clock int) error {
	switch clock {
	case clockRealtime, clockMonotonic, clockBoottime:
		return nil
	case clockRealtimeAlarm, clockBoottimeAlarm:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
}

// posixClockErr returns the error timer_create gives for clock: nil for
// the supported ones, including the CPU-time clocks (process, thread and
// the clock ids of clock_getcpuclockid and pthread_getcpuclockid, whose
// process or thread Thread.cpuClockOf checks), EOPNOTSUPP for the clocks
// Linux has no timers on, EPERM for the alarm clocks, EINVAL for ids
// that are no clock.
func posixClockErr(clock int) error {
	switch {
	case clock == clockRealtime || clock == clockMonotonic || clock == clockBoottime || clock == clockTAI:
		return nil
	case clock == clockProcessCputimeID || clock == clockThreadCputimeID:
		return nil
	case clock < 0:
		// A CPU clock of a process or thread (make_process_cpuclock):
		// ~pid << 3 | perthread << 2 | which, which < 3. Whose it is,
		// Thread.cpuClockOf checks.
		if clock&3 == 3 {
			return unix.EINVAL
		}
		return nil
	case clock == clockMonotonicRaw || clock == clockRealtimeCoarse || clock == clockMonotonicCoarse:
		return unix.EOPNOTSUPP
	case clock == clockRealtimeAlarm || clock == clockBoottimeAlarm:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
}

// firstExpiry converts a setting's it_value to the host time of the
// first expiry, given now, the clock's reading at the host time
// hostNow: relative, or absolute on that clock (TIMER_ABSTIME,
// TFD_TIMER_ABSTIME). An absolute time already past expires at once,
// and a periodic timer counts the periods since it as overruns or ticks,
// as Linux's does.
func firstExpiry(value timespec, abs bool, now timespec, hostNow time.Time) time.Time {
	d := time.Duration(value.nanos())
	if abs {
		d = time.Duration(value.nanos() - now.nanos())
	}
	return hostNow.Add(d)
}

// forward advances an expiry that has passed (deadline <= now) by whole
// periods to the first one after now, as hrtimer_forward does. missed is
// the number of periods skipped over besides the one that expired: the
// overrun of a POSIX timer, the extra ticks of a timerfd. interval must
// be positive.
func forward(deadline time.Time, interval time.Duration, now time.Time) (next time.Time, missed int64) {
	if now.Before(deadline) {
		return deadline, 0
	}
	k := int64(now.Sub(deadline) / interval)
	return deadline.Add(time.Duration(k+1) * interval), k
}

// Notification kinds of struct sigevent (include/uapi/asm-generic/siginfo.h).
const (
	sigevSignal   = 0
	sigevNone     = 1
	sigevThread   = 2
	sigevThreadID = 4
)

// sigeventSize is sizeof(struct sigevent) on x86-64.
const sigeventSize = 64

// sigevent is the part of struct sigevent the kernel reads:
// sigev_value (+0), sigev_signo (+8), sigev_notify (+12) and
// sigev_notify_thread_id (+16).
type sigevent struct {
	value  uint64
	signo  int32
	notify int32
	tid    int32
}

// decodeSigevent decodes a struct sigevent and checks what Linux's
// good_sigevent checks without the process: EINVAL for an unknown
// notification or, unless it is SIGEV_NONE, a signal outside 1-64.
// SIGEV_THREAD is glibc's and means SIGEV_SIGNAL to the kernel. Whether
// the thread of SIGEV_THREAD_ID is one of the process's is the caller's
// to check.
func decodeSigevent(b []byte) (sigevent, error) {
	if len(b) < sigeventSize {
		return sigevent{}, unix.EINVAL
	}
	le := binary.LittleEndian
	ev := sigevent{
		value:  le.Uint64(b[0:]),
		signo:  int32(le.Uint32(b[8:])),
		notify: int32(le.Uint32(b[12:])),
		tid:    int32(le.Uint32(b[16:])),
	}
	switch ev.notify {
	case sigevNone:
		return ev, nil
	case sigevSignal, sigevThread, sigevSignal | sigevThreadID:
		if !validSignal(int(ev.signo)) {
			return sigevent{}, unix.EINVAL
		}
		return ev, nil
	default:
		return sigevent{}, unix.EINVAL
	}
}
