package hypervisor

import (
	"sync"
	"sync/atomic"
	"time"
)

// The CPU-time interval timers, ITIMER_PROF and ITIMER_VIRTUAL: what
// gprof and Go's CPU profiler (runtime/pprof falls back to setitimer
// when it cannot create per-thread CPU-clock timers) use. They count the
// process's guest time, the time its threads ran in guest mode as the
// VMM measures it around KVM_RUN (Process.cpuTotal). System calls run in
// the VMM and count as neither user nor system time (see getrusage), so
// the two timers count the same time and differ only in their signal:
// SIGPROF and SIGVTALRM, sent to the process with SI_KERNEL as Linux
// sends them.
//
// A timer is checked after every KVM_RUN of the process's threads. A
// compute-bound thread may not exit for a long time, so the scheduler's
// tick also kicks a VCPU whose thread's process would be past its
// earliest deadline counting the run in progress (cpuTimers.due). The
// signal thus comes at most a tick (half a time slice, 5 ms by default)
// after the deadline; later expiries are counted from the deadline, not
// from the signal, so the rate holds. Like Linux's, a timer behind by
// several intervals fires once per check until it has caught up.

// cpuTimer is one CPU-time interval timer, in nanoseconds of process
// guest time.
type cpuTimer struct {
	deadline int64 // 0 when disarmed
	interval int64
}

// cpuTimers are a process's ITIMER_PROF and ITIMER_VIRTUAL.
type cpuTimers struct {
	mu     sync.Mutex
	timers [2]cpuTimer // itimerVirtual-1, itimerProf-1
	next   nextDeadline
}

// nextDeadline is the earliest deadline of a set of CPU-time timers, 0
// when none is armed: the lock-free check of the exit path and the
// scheduler's tick.
type nextDeadline struct{ v atomic.Int64 }

// due reports whether a timer is due at clock reading now.
func (n *nextDeadline) due(now int64) bool {
	next := n.v.Load()
	return next != 0 && now >= next
}

func (n *nextDeadline) store(next int64) { n.v.Store(next) }

// earliest returns the earlier of next and deadline, 0 standing for
// none.
func earliest(next, deadline int64) int64 {
	if deadline != 0 && (next == 0 || deadline < next) {
		return deadline
	}
	return next
}

// cpuTimerSignal is the signal of each timer.
var cpuTimerSignal = [2]int{sigVTALRM, sigPROF}

func cpuTimerIndex(which int) int { return which - itimerVirtual }

// set arms timer which to expire after value of process CPU time (0:
// disarm), then every interval, and returns the previous setting. now is
// the process's CPU time.
func (c *cpuTimers) set(which int, now int64, value, interval time.Duration) (oldValue, oldInterval time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &c.timers[cpuTimerIndex(which)]
	oldValue, oldInterval = t.remaining(now), time.Duration(t.interval)
	*t = cpuTimer{}
	if value > 0 {
		t.deadline, t.interval = now+int64(value), int64(interval)
	}
	c.updateNextLocked()
	return oldValue, oldInterval
}

// get returns the CPU time left until timer which expires, and its
// interval.
func (c *cpuTimers) get(which int, now int64) (value, interval time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &c.timers[cpuTimerIndex(which)]
	return t.remaining(now), time.Duration(t.interval)
}

// remaining is the time left of an armed timer: at least a microsecond
// while it has not fired, as Linux reports an expired timer whose signal
// is not sent yet.
func (t *cpuTimer) remaining(now int64) time.Duration {
	if t.deadline == 0 {
		return 0
	}
	return max(time.Duration(t.deadline-now), time.Microsecond)
}

func (c *cpuTimers) updateNextLocked() {
	var next int64
	for _, t := range c.timers {
		next = earliest(next, t.deadline)
	}
	c.next.store(next)
}

// due reports whether a timer is due at process CPU time now. It is the
// fast path: one atomic load when no timer is armed.
func (c *cpuTimers) due(now int64) bool { return c.next.due(now) }

// expire fires the timers due at process CPU time now, each once, and
// re-arms the periodic ones an interval after their deadline. It
// returns the signals to send.
func (c *cpuTimers) expire(now int64) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sigs []int
	for i := range c.timers {
		t := &c.timers[i]
		if t.deadline == 0 || now < t.deadline {
			continue
		}
		sigs = append(sigs, cpuTimerSignal[i])
		if t.interval > 0 {
			t.deadline += t.interval
		} else {
			t.deadline = 0
		}
	}
	c.updateNextLocked()
	return sigs
}

// addCPU counts d of guest time that t just ran on v, and sends the
// process the signals of the CPU-time timers that expired. As Linux
// does, the thread that ran takes them unless it blocks them, so that a
// profiler's SIGPROF interrupts the code that used the time; the kick
// has v deliver them before t runs on.
//
// The POSIX timers on the thread's and the process's CPU clocks
// (cpuclock.go) are checked here too; they queue their signals as their
// sigevent says.
func (v *vcpu) addCPU(t *Thread, d time.Duration) {
	fired := t.cpuWatch.fireDue(t.cpuNanos.Add(int64(d)))
	p := t.proc
	now := p.cpuTotal.Add(int64(d))
	if p.cpuWatch.fireDue(now) {
		fired = true
	}
	if p.cpuTimers.due(now) {
		for _, sig := range p.cpuTimers.expire(now) {
			_ = p.sendSignal(siginfo{signo: int32(sig), code: siKernel}, nil, t)
		}
		fired = true
	}
	if fired {
		v.requestKick(kickSignal)
	}
}

// cpuTimerDue reports whether the thread running on v in guest mode
// since runStart (nanoseconds on monoClock) has, with that run, taken
// itself or its process past a CPU-time timer's deadline at now (the
// same clock); others is the time of the process's runs in progress on
// the other VCPUs.
func cpuTimerDue(t *Thread, runStart, now, others int64) bool {
	if runStart == 0 {
		return false
	}
	run := now - runStart
	p := t.proc
	pnow := p.cpuTotal.Load() + run + others
	return p.cpuTimers.due(pnow) || p.cpuWatch.due(pnow) || t.cpuWatch.due(t.cpuNanos.Load()+run)
}

// monoBase is the origin of monoClock.
var monoBase = time.Now()

// monoClock converts a time.Time read in this process to nanoseconds on
// the monotonic clock since monoBase.
func monoClock(t time.Time) int64 { return int64(t.Sub(monoBase)) }
