package hypervisor

import (
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// The POSIX timers of a process: the table, and each timer's setting,
// expiry, signal and overrun (kernel/time/posix-timers.c). The system
// calls are in syscall_timer_posix.go.

// posixTimers is a process's table of timers by id. Safe for
// concurrent use; mu comes before each timer's own lock.
type posixTimers struct {
	mu     sync.Mutex
	m      map[int32]*posixTimer
	closed bool // the process is gone: no more timers
}

// create adds a timer on clock notifying as ev, with the lowest free id:
// EAGAIN when the process has maxPosixTimers or is gone.
func (pt *posixTimers) create(p *Process, clock int, cpu cpuClock, ev sigevent) (*posixTimer, error) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.closed || len(pt.m) >= maxPosixTimers {
		return nil, unix.EAGAIN
	}
	if pt.m == nil {
		pt.m = map[int32]*posixTimer{}
	}
	id := int32(0)
	for pt.m[id] != nil {
		id++
	}
	tm := &posixTimer{p: p, id: id, clock: clock, cpu: cpu, ev: ev}
	pt.m[id] = tm
	return tm, nil
}

// lookup returns timer id (EINVAL if there is none).
func (pt *posixTimers) lookup(id int) (*posixTimer, error) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if tm := pt.m[int32(id)]; tm != nil {
		return tm, nil
	}
	return nil, unix.EINVAL
}

// remove deletes timer id (EINVAL if there is none) and drops its
// queued signals.
func (pt *posixTimers) remove(p *Process, id int) error {
	pt.mu.Lock()
	tm := pt.m[int32(id)]
	delete(pt.m, int32(id))
	pt.mu.Unlock()
	if tm == nil {
		return unix.EINVAL
	}
	tm.stop()
	p.purgeTimerSignals(tm)
	return nil
}

// unpark resumes the periodic timers of signal sig that were parked
// because it was ignored. Called with the process's sig.mu held.
func (pt *posixTimers) unpark(sig int) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, tm := range pt.m {
		if int(tm.ev.signo) == sig && tm.ev.notify != sigevNone {
			tm.unpark()
		}
	}
}

// deleteAll deletes every timer and refuses new ones, when the process
// is gone.
func (pt *posixTimers) deleteAll() {
	pt.mu.Lock()
	m := pt.m
	pt.m, pt.closed = nil, true
	pt.mu.Unlock()
	for _, tm := range m {
		tm.stop()
	}
}

// posixTimer is one timer. The fields after mu are protected by it.
type posixTimer struct {
	p     *Process
	id    int32
	clock int
	ev    sigevent
	// cpu is the CPU clock the timer runs on (cpuclock.go), or none for
	// the host's clocks. Its times are cpuTime readings of that clock.
	cpu cpuClock

	mu       sync.Mutex
	timer    *time.Timer
	deadline time.Time // the next expiry; zero when disarmed
	interval time.Duration
	// gen counts settings: a stale expiry or signal does nothing.
	gen uint64
	// queued is set while the timer's signal is queued; parked while a
	// periodic timer waits for its ignored signal to be wanted again.
	queued, parked bool
	// overrun counts the periods skipped since the signal was queued;
	// overrunLast is the count the last dequeued signal reported.
	overrun, overrunLast int64
	deleted              bool
}

// set arms the timer with spec (value zero: disarm), its it_value
// absolute on the timer's clock if abs, whose reading is now. It returns
// the previous setting, as get would have.
func (tm *posixTimer) set(spec itimerspec, abs bool, now timespec) (oldInterval, oldValue time.Duration) {
	hostNow := tm.now()
	tm.mu.Lock()
	defer tm.mu.Unlock()
	oldInterval, oldValue = tm.getLocked(hostNow)
	tm.stopLocked()
	tm.queued, tm.parked = false, false
	tm.overrun, tm.overrunLast = 0, 0
	tm.interval = time.Duration(spec.interval.nanos())
	if spec.value.nanos() == 0 {
		return oldInterval, oldValue
	}
	tm.deadline = firstExpiry(spec.value, abs, now, hostNow)
	if tm.ev.notify != sigevNone {
		tm.armLocked()
	}
	return oldInterval, oldValue
}

// stop disarms the timer for good (timer_delete, exit).
func (tm *posixTimer) stop() {
	tm.mu.Lock()
	tm.stopLocked()
	tm.deleted = true
	tm.mu.Unlock()
}

// now reads the timer's clock as a time: the host's for host clocks,
// cpuTime of the reading for CPU clocks.
func (tm *posixTimer) now() time.Time {
	if tm.cpu.valid() {
		return cpuTime(tm.cpu.nanos())
	}
	return time.Now()
}

func (tm *posixTimer) stopLocked() {
	if tm.timer != nil {
		tm.timer.Stop()
		tm.timer = nil
	}
	if tm.cpu.valid() {
		tm.cpu.watch().disarm(tm)
	}
	tm.gen++
	tm.deadline = time.Time{}
}

func (tm *posixTimer) armLocked() {
	gen := tm.gen
	if tm.cpu.valid() {
		tm.cpu.watch().arm(tm, cpuNanosOf(tm.deadline), gen)
		return
	}
	tm.timer = time.AfterFunc(time.Until(tm.deadline), func() { tm.fire(gen) })
}

// fire runs when the timer expires: it queues the signal, or counts an
// overrun if it still is (which deferring the rearm to the dequeue
// should prevent).
func (tm *posixTimer) fire(gen uint64) {
	tm.mu.Lock()
	if gen != tm.gen || tm.deleted {
		tm.mu.Unlock()
		return
	}
	tm.timer = nil
	if tm.queued {
		tm.overrun++
		tm.rearmLocked()
		tm.mu.Unlock()
		return
	}
	if tm.interval == 0 {
		tm.deadline = time.Time{}
	}
	tm.queued = true
	info := siginfo{signo: tm.ev.signo, code: siTimer, pid: uint32(tm.id), value: tm.ev.value, timer: tm, timerGen: gen}
	tm.mu.Unlock()

	p := tm.p
	if p.exiting.Load() {
		return
	}
	var target *Thread
	if tm.ev.notify&sigevThreadID != 0 {
		// A thread that has exited gets nothing.
		if target = p.thread(int(tm.ev.tid)); target == nil {
			tm.dropped(gen)
			return
		}
	}
	if queued, _ := p.queueSignal(info, target, nil); !queued {
		tm.dropped(gen) // ignored
	}
}

// rearmLocked arms a periodic timer for its first period after now,
// counting the periods skipped as overruns.
func (tm *posixTimer) rearmLocked() {
	if tm.interval <= 0 || tm.deadline.IsZero() {
		return
	}
	next, missed := forward(tm.deadline, tm.interval, tm.now())
	tm.overrun += missed
	tm.deadline = next
	tm.armLocked()
}

// dequeued runs when the timer's signal info is taken from a pending
// queue, with the process's sig.mu held: a periodic timer is rearmed,
// and the overrun goes into info (posixtimer_rearm).
func (tm *posixTimer) dequeued(info *siginfo) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if info.timerGen != tm.gen || tm.deleted {
		return
	}
	tm.queued = false
	tm.rearmLocked()
	tm.overrunLast, tm.overrun = tm.overrun, 0
	info.uid = uint32(min(tm.overrunLast, overrunMax))
}

// dropped runs when the timer's signal of setting gen was not queued
// (ignored, the thread gone) or was discarded from a queue (the signal
// came to be ignored, the thread exited): a periodic timer is parked,
// a one-shot one is done.
func (tm *posixTimer) dropped(gen uint64) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if gen != tm.gen || tm.deleted || !tm.queued {
		return
	}
	tm.queued = false
	tm.overrun = 0
	tm.parked = tm.interval > 0 && !tm.deadline.IsZero()
}

// unpark rearms a parked timer at its first period after now.
func (tm *posixTimer) unpark() {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if !tm.parked || tm.deleted {
		return
	}
	tm.parked = false
	tm.rearmLocked()
	tm.overrun = 0
}

// get returns the interval and the time to the next expiry (zero:
// disarmed). An expiry that has passed reads as 1ns until the timer has
// fired, and as 0 for SIGEV_NONE, as common_timer_get does.
func (tm *posixTimer) get() (interval, value time.Duration) {
	now := tm.now()
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.getLocked(now)
}

func (tm *posixTimer) getLocked(now time.Time) (interval, value time.Duration) {
	if tm.deadline.IsZero() {
		return tm.interval, 0
	}
	next := tm.deadline
	none := tm.ev.notify == sigevNone
	if tm.interval > 0 && (tm.queued || tm.parked || none) {
		next, _ = forward(next, tm.interval, now)
	}
	left := next.Sub(now)
	if left <= 0 {
		if none {
			return tm.interval, 0
		}
		return tm.interval, time.Nanosecond
	}
	return tm.interval, left
}

// purgeTimerSignals drops the queued signals of tm's earlier settings,
// after timer_settime or timer_delete. A signal in flight when the
// setting changed may still be queued after this; dequeuing drops it
// (dropStaleTimers).
func (p *Process) purgeTimerSignals(tm *posixTimer) {
	threads := p.liveThreads()
	s := &p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	tm.mu.Lock()
	gen := tm.gen
	tm.mu.Unlock()
	s.shared.removeTimer(tm, gen)
	for _, t := range threads {
		t.sig.pending.removeTimer(tm, gen)
	}
}

// stale reports whether a signal of setting gen belongs to an earlier
// setting (or a deleted timer). Called with the process's sig.mu held.
func (tm *posixTimer) stale(gen uint64) bool {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return gen != tm.gen || tm.deleted
}

// overruns returns the overrun of the last signal (timer_getoverrun).
func (tm *posixTimer) overruns() int64 {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return min(tm.overrunLast, overrunMax)
}
