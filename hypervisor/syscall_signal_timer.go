package hypervisor

import (
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// The interval timers: alarm, setitimer and getitimer. ITIMER_REAL sends
// the process SIGALRM on the host's clock; ITIMER_VIRTUAL and ITIMER_PROF
// count the process's guest time (cputimer.go). POSIX timers
// (timer_create) are in syscall_timer_posix.go, timerfds in
// syscall_timerfd.go.

func init() {
	registerSyscall(sysAlarm, sysAlarmFn)
	registerSyscall(sysSetitimer, sysSetitimerFn)
	registerSyscall(sysGetitimer, sysGetitimerFn)
}

const (
	itimerReal    = 0
	itimerVirtual = 1
	itimerProf    = 2
	itimervalSize = 2 * timevalSize // it_interval, it_value
)

// realTimer is a process's ITIMER_REAL.
type realTimer struct {
	mu       sync.Mutex
	timer    *time.Timer
	deadline time.Time // zero when disarmed
	interval time.Duration
	gen      uint64 // counts (re)arms, so a stale expiry does nothing
}

// set arms the timer to fire after value (0: disarm) and then every
// interval, and returns the previous setting.
func (rt *realTimer) set(p *Process, value, interval time.Duration) (oldValue, oldInterval time.Duration) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	oldValue, oldInterval = rt.remainingLocked(), rt.interval
	if rt.timer != nil {
		rt.timer.Stop()
		rt.timer = nil
	}
	rt.gen++
	rt.deadline, rt.interval = time.Time{}, interval
	if value > 0 {
		rt.armLocked(p, value)
	}
	return oldValue, oldInterval
}

func (rt *realTimer) armLocked(p *Process, d time.Duration) {
	gen := rt.gen
	rt.deadline = time.Now().Add(d)
	rt.timer = time.AfterFunc(d, func() { rt.fire(p, gen) })
}

// fire sends SIGALRM and re-arms a periodic timer.
func (rt *realTimer) fire(p *Process, gen uint64) {
	rt.mu.Lock()
	if gen != rt.gen || p.exiting.Load() {
		rt.mu.Unlock()
		return
	}
	rt.deadline = time.Time{}
	if rt.interval > 0 {
		rt.armLocked(p, rt.interval)
	}
	rt.mu.Unlock()
	p.sendSignal(siginfo{signo: sigALRM, code: siKernel}, nil, nil)
}

// get returns the time left and the interval.
func (rt *realTimer) get() (value, interval time.Duration) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.remainingLocked(), rt.interval
}

func (rt *realTimer) remainingLocked() time.Duration {
	if rt.deadline.IsZero() {
		return 0
	}
	// An expired timer that has not fired yet still counts as pending.
	return max(time.Until(rt.deadline), time.Microsecond)
}

func checkItimer(which int) error {
	switch which {
	case itimerReal, itimerVirtual, itimerProf:
		return nil
	default:
		return unix.EINVAL
	}
}

func sysSetitimerFn(t *Thread, a SyscallArgs) (uint64, error) {
	if err := checkItimer(a.Int(0)); err != nil {
		return 0, err
	}
	var value, interval time.Duration
	if a[1] != 0 {
		var b [itimervalSize]byte
		if err := t.proc.mm.CopyIn(a[1], b[:]); err != nil {
			return 0, err
		}
		var err error
		if interval, err = decodeTimeval(b[:timevalSize]); err != nil {
			return 0, err
		}
		if value, err = decodeTimeval(b[timevalSize:]); err != nil {
			return 0, err
		}
	}
	var oldValue, oldInterval time.Duration
	if which := a.Int(0); which == itimerReal {
		oldValue, oldInterval = t.proc.sig.itimer.set(t.proc, value, interval)
	} else {
		oldValue, oldInterval = t.proc.cpuTimers.set(which, t.proc.cpuNanos(), value, interval)
	}
	if a[2] != 0 {
		return 0, t.proc.mm.CopyOut(a[2], append(encodeTimeval(oldInterval), encodeTimeval(oldValue)...))
	}
	return 0, nil
}

func sysGetitimerFn(t *Thread, a SyscallArgs) (uint64, error) {
	if err := checkItimer(a.Int(0)); err != nil {
		return 0, err
	}
	var value, interval time.Duration
	if which := a.Int(0); which == itimerReal {
		value, interval = t.proc.sig.itimer.get()
	} else {
		value, interval = t.proc.cpuTimers.get(which, t.proc.cpuNanos())
	}
	return 0, t.proc.mm.CopyOut(a[1], append(encodeTimeval(interval), encodeTimeval(value)...))
}

// sysAlarmFn is alarm(2): it returns the seconds left of the previous
// alarm, rounded as Linux does (never 0 for one still pending).
func sysAlarmFn(t *Thread, a SyscallArgs) (uint64, error) {
	old, _ := t.proc.sig.itimer.set(t.proc, time.Duration(a.Uint32(0))*time.Second, 0)
	secs := uint64(old / time.Second)
	if usec := old % time.Second; secs == 0 && usec > 0 || usec >= 500*time.Millisecond {
		secs++
	}
	return secs, nil
}
