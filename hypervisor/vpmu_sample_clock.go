package hypervisor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// The sample clock: the VMM's way to get control when a time event
// overflows while the guest runs. Before each KVM_RUN of a thread that
// samples guest time, its VCPU sets a deadline: the host TSC at which the
// thread's remaining time to its next threshold is up. The clock, one OS
// thread per VM, sleeps until the earliest deadline and then kicks that
// VCPU the way the scheduler ends a time slice (requestKick: immediate
// exit, then a signal to the VCPU thread), so the VCPU leaves guest mode
// at most a wake-up latency after the overflow and the VMM records the
// sample where the guest was.
//
// Go timers cannot do this: an idle Go runtime sleeps in epoll with
// millisecond resolution, so a 250 µs timer fires about 0.8 ms late. The
// clock instead waits on a futex with a relative timeout, with its timer
// slack at 1 ns; on the development machine it wakes 30 µs late (median).
//
// Deadlines only move later while a thread runs (each run's remaining
// time starts after the last), so a VCPU wakes the clock only when it
// arms an earlier deadline than the clock sleeps until: after a thread
// switch, or when it arms a VCPU that had none.
type sampleClock struct {
	p *vpmu
	// deadlines are per VCPU, in host TSC ticks; 0 means none.
	deadlines []atomic.Uint64
	// word is the futex word: bumped whenever a deadline moved earlier,
	// so that a clock about to sleep sees it. target is the deadline the
	// clock sleeps until, 0 while it sleeps without one.
	word   atomic.Uint32
	target atomic.Uint64
	// slack is how late a kick may be before arming wakes the clock.
	slack uint64

	once    sync.Once
	stop    atomic.Bool
	done    chan struct{}
	started atomic.Bool
}

// clockSlack is the lateness that arming an earlier deadline tolerates
// rather than wake the clock.
const clockSlack = 20 * time.Microsecond

func newSampleClock(p *vpmu, vcpus int) *sampleClock {
	return &sampleClock{p: p, deadlines: make([]atomic.Uint64, vcpus), slack: p.ticks(uint64(clockSlack)),
		done: make(chan struct{})}
}

// arm sets VCPU id's deadline (host TSC) and wakes the clock if it sleeps
// past it. Only VCPU id's goroutine calls it.
func (k *sampleClock) arm(id int, deadline uint64) {
	old := k.deadlines[id].Swap(deadline)
	if old != 0 && deadline >= old {
		return // later: the clock finds out when it wakes
	}
	k.once.Do(k.start)
	k.word.Add(1)
	if t := k.target.Load(); t == 0 || deadline+k.slack < t {
		unix.FutexWake(k.addr(), 1)
	}
}

// disarm clears VCPU id's deadline (its thread left it).
func (k *sampleClock) disarm(id int) { k.deadlines[id].Store(0) }

// startEarly launches the clock's goroutine from the goroutine that
// starts the run. A clock started by a VCPU's goroutine would wait in
// that VCPU's P, which is inside KVM_RUN, until sysmon retakes it (up to
// 10 ms), and miss its first deadlines.
func (k *sampleClock) startEarly() {
	if k != nil {
		k.once.Do(k.start)
	}
}

// start launches the clock's goroutine.
func (k *sampleClock) start() {
	k.started.Store(true)
	go k.loop()
}

// shutdown stops the clock and waits for it. The VCPUs must be stopped.
func (k *sampleClock) shutdown() {
	if k == nil {
		return
	}
	k.once.Do(func() {}) // no start after this
	if !k.started.Load() {
		return
	}
	k.stop.Store(true)
	k.word.Add(1)
	unix.FutexWake(k.addr(), 1)
	<-k.done
}

// loop sleeps until the earliest deadline and kicks the VCPUs whose
// deadline passed.
func (k *sampleClock) loop() {
	defer close(k.done)
	// Never unlocked: the thread's timer slack goes with it.
	runtime.LockOSThread()
	if err := unix.SetTimerSlack(1); err != nil {
		k.p.vm.log.Warn("vpmu: sample clock: cannot lower the timer slack; time samples come later", "err", err)
	}
	vcpus := k.p.vm.vcpus
	for !k.stop.Load() {
		w := k.word.Load()
		now := rdtsc()
		var earliest uint64
		for i := range k.deadlines {
			d := k.deadlines[i].Load()
			switch {
			case d == 0:
			case d <= now:
				if k.deadlines[i].CompareAndSwap(d, 0) {
					k.p.sampStats.kicks.Add(1)
					vcpus[i].requestKick(kickSample)
				}
			case earliest == 0 || d < earliest:
				earliest = d
			}
		}
		k.target.Store(earliest)
		timeout := int64(-1)
		if earliest != 0 {
			timeout = int64(k.p.calib.Nanos(earliest - now))
		}
		unix.FutexWaitTimeout(k.addr(), w, timeout)
	}
}

// runEnded stops what sampling runs beside the VCPUs once they stopped.
func (p *vpmu) runEnded() {
	if p != nil {
		p.clock.shutdown()
	}
}
