package hypervisor

import (
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// CPU-time clocks and the POSIX timers on them. A process's clock is its
// guest time (Process.cpuTotal), a thread's its own (Thread.cpuNanos):
// CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, and the ids that
// clock_getcpuclockid and pthread_getcpuclockid make, ~pid << 3 |
// perthread << 2 | which. The three kinds (which: PROF, VIRT, SCHED)
// read the same time, since system calls run in the VMM and count as
// neither user nor system time. A timer on such a clock is armed in the
// clock's cpuWatch instead of a host timer: the VCPU checks the watches
// after every KVM_RUN and the scheduler's tick kicks a VCPU whose run
// passes a deadline (cputimer.go), so a thread that computes without
// exiting still gets its SIGPROF in time. This is what Go's runtime uses
// for per-thread CPU profiling.

// cpuClock is the CPU clock of a process (thread nil) or of a thread.
type cpuClock struct {
	proc   *Process
	thread *Thread
}

// valid reports whether c is a clock (the zero cpuClock is none).
func (c cpuClock) valid() bool { return c.proc != nil }

// nanos reads the clock.
func (c cpuClock) nanos() int64 {
	if c.thread != nil {
		return c.thread.cpuNanos.Load()
	}
	return c.proc.cpuTotal.Load()
}

// watch returns the clock's armed timers.
func (c cpuClock) watch() *cpuWatch {
	if c.thread != nil {
		return &c.thread.cpuWatch
	}
	return &c.proc.cpuWatch
}

// Fields of a clock id made by make_process_cpuclock.
const (
	cpuClockPerThread = 4
	cpuClockWhichMask = 3 // PROF 0, VIRT 1, SCHED 2
)

// cpuClockOf returns the CPU clock that id names for t: ok is false when
// id is not a CPU-time clock, and EINVAL is for a CPU clock id whose
// kind is bad or whose process or thread is not t's.
func (t *Thread) cpuClockOf(id int) (c cpuClock, ok bool, err error) {
	p := t.proc
	switch {
	case id == clockProcessCputimeID:
		return cpuClock{proc: p}, true, nil
	case id == clockThreadCputimeID:
		return cpuClock{proc: p, thread: t}, true, nil
	case id >= 0:
		return cpuClock{}, false, nil
	}
	if id&cpuClockWhichMask == cpuClockWhichMask {
		return cpuClock{}, true, unix.EINVAL
	}
	pid := ^(id >> 3)
	if id&cpuClockPerThread == 0 {
		if pid != 0 && pid != p.pid {
			return cpuClock{}, true, unix.EINVAL
		}
		return cpuClock{proc: p}, true, nil
	}
	if pid == 0 {
		return cpuClock{proc: p, thread: t}, true, nil
	}
	if th := p.thread(pid); th != nil {
		return cpuClock{proc: p, thread: th}, true, nil
	}
	return cpuClock{}, true, unix.EINVAL
}

// cpuEpoch is where CPU-clock readings start when a POSIX timer handles
// them as times (cpuTime): the timer arithmetic of timer_posix.go works
// on time.Time.
var cpuEpoch = time.Unix(0, 0)

func cpuTime(ns int64) time.Time { return cpuEpoch.Add(time.Duration(ns)) }

func cpuNanosOf(t time.Time) int64 { return int64(t.Sub(cpuEpoch)) }

// cpuWatch holds the armed POSIX timers of one CPU clock. Safe for
// concurrent use; a timer's lock comes before mu.
type cpuWatch struct {
	mu    sync.Mutex
	armed map[*posixTimer]cpuArm
	next  nextDeadline
}

// cpuArm is a timer's deadline on the clock, and the setting it belongs
// to.
type cpuArm struct {
	deadline int64
	gen      uint64
}

func (w *cpuWatch) arm(tm *posixTimer, deadline int64, gen uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed == nil {
		w.armed = map[*posixTimer]cpuArm{}
	}
	w.armed[tm] = cpuArm{deadline: max(deadline, 1), gen: gen}
	w.updateNextLocked()
}

func (w *cpuWatch) disarm(tm *posixTimer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.armed[tm]; ok {
		delete(w.armed, tm)
		w.updateNextLocked()
	}
}

func (w *cpuWatch) updateNextLocked() {
	var next int64
	for _, a := range w.armed {
		next = earliest(next, a.deadline)
	}
	w.next.store(next)
}

// due reports whether a timer is due at clock reading now.
func (w *cpuWatch) due(now int64) bool { return w.next.due(now) }

// expire removes the timers due at now and returns them with their
// settings, for the caller to fire with no lock held.
func (w *cpuWatch) expire(now int64) []cpuFire {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []cpuFire
	for tm, a := range w.armed {
		if now >= a.deadline {
			out = append(out, cpuFire{tm, a.gen})
			delete(w.armed, tm)
		}
	}
	w.updateNextLocked()
	return out
}

type cpuFire struct {
	tm  *posixTimer
	gen uint64
}

// fireDue fires the timers of w due at now and reports whether any did.
func (w *cpuWatch) fireDue(now int64) bool {
	if !w.due(now) {
		return false
	}
	fired := w.expire(now)
	for _, f := range fired {
		f.tm.fire(f.gen)
	}
	return len(fired) > 0
}
