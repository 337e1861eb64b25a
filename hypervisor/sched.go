package hypervisor

import (
	"sync"
	"time"
)

// scheduler runs the two scheduling levels:
//
//   - guest threads onto VCPUs: a FIFO run queue; a VCPU takes the next
//     runnable thread and runs it until it blocks, yields, exits or is
//     preempted at the end of its time slice while others wait;
//   - VCPUs onto PCPU slots (sched_pcpu.go): a VCPU must hold a slot to
//     run guest code; it gives the slot up when it goes idle, or at the end
//     of its slot time slice when another VCPU waits.
//
// A timer goroutine enforces both time slices by kicking VCPUs.
//
// Locking: mu protects the run queue, every Thread's state, vcpu and
// wake fields, every vcpu's cur/pcpu/lastPCPU/since fields, and the
// slots. Hooks are never called with mu held: a VCPU calls VCPUOut before
// it gives its slot up and VCPUIn after it got one, ThreadOut before its
// thread becomes available to others and ThreadIn after taking it, so
// hook calls are ordered the way the switches are.
//
// Waiting VCPUs (idle, or queued for a slot) sleep on their own parker,
// never on a Go channel or condition variable (see parker).
type scheduler struct {
	vm    *VM
	slice time.Duration

	mu       sync.Mutex
	runq     threadQueue
	idle     []*vcpu // VCPUs parked in pick, waiting for a thread
	stopping bool
	vcpus    []*vcpu

	slots    []pcpuSlot
	slotWait []*vcpu // VCPUs waiting for a slot, FIFO

	wg        sync.WaitGroup
	timerStop chan struct{}
	started   bool
}

func newScheduler(vm *VM, pcpus int) *scheduler {
	return &scheduler{vm: vm, slice: vm.cfg.TimeSlice, slots: make([]pcpuSlot, pcpus)}
}

// start launches one goroutine per VCPU and the time-slice timer.
func (s *scheduler) start(vcpus []*vcpu) {
	s.mu.Lock()
	s.vcpus = vcpus
	s.started = true
	s.timerStop = make(chan struct{})
	s.mu.Unlock()
	for _, v := range vcpus {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			v.loop()
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.timer()
	}()
}

// wait stops the VCPU goroutines once they have nothing left to run and
// waits for them and the timer. Call it after the process is done.
func (s *scheduler) wait() {
	s.mu.Lock()
	if !s.started || s.stopping {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.stopping = true
	close(s.timerStop)
	for _, v := range s.vcpus {
		v.parker.unpark()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// makeRunnable queues t. If t's process is exiting, t exits instead.
func (s *scheduler) makeRunnable(t *Thread) {
	s.mu.Lock()
	if t.proc.exiting.Load() {
		t.state = threadExited
		s.mu.Unlock()
		t.proc.threadExited(t, ExitStatus{})
		return
	}
	t.state = threadRunnable
	s.runq.push(t)
	var wake *vcpu
	if n := len(s.idle); n > 0 {
		wake = s.idle[n-1]
		s.idle = s.idle[:n-1]
	}
	s.mu.Unlock()
	if wake != nil {
		wake.parker.unpark()
	}
}

// wake ends t's wait with a system-call result and makes it runnable.
// If t has not finished leaving its VCPU yet (a futex wake that raced
// with the wait), the result is kept for afterOut.
func (s *scheduler) wake(t *Thread, ret uint64, err error) {
	s.mu.Lock()
	if t.state != threadBlocked {
		t.woken, t.wokenRet, t.wokenErr = true, ret, err
		s.mu.Unlock()
		return
	}
	t.setSyscallResult(ret, err)
	s.mu.Unlock()
	s.makeRunnable(t)
	s.wakeupPreempt() // sched_wakeup.go
}

// pick returns the next thread for v, waiting while there is none; an
// idle VCPU gives its PCPU slot up first. It returns nil when the
// scheduler stops.
func (s *scheduler) pick(v *vcpu) *Thread {
	s.mu.Lock()
	for s.runq.len() == 0 && !s.stopping {
		if v.pcpu >= 0 {
			s.mu.Unlock()
			v.releasePCPU()
			s.mu.Lock()
			continue
		}
		s.idle = append(s.idle, v)
		s.mu.Unlock()
		v.parker.park()
		s.mu.Lock()
		s.removeIdle(v)
	}
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	t := s.runq.pop()
	t.state = threadRunning
	t.vcpu = v
	v.cur = t
	v.threadSince = time.Now()
	s.mu.Unlock()
	return t
}

// afterOut settles t after v switched it out (ThreadOut already called).
func (s *scheduler) afterOut(v *vcpu, t *Thread, reason SwitchReason) {
	s.mu.Lock()
	v.cur = nil
	t.vcpu = nil
	switch reason {
	case SwitchPreempted, SwitchYield:
		s.mu.Unlock()
		s.makeRunnable(t)
	case SwitchBlocked:
		if t.woken {
			// Woken while still leaving the VCPU.
			t.woken = false
			t.setSyscallResult(t.wokenRet, t.wokenErr)
			s.mu.Unlock()
			s.makeRunnable(t)
			return
		}
		t.state = threadBlocked
		fn := t.pending
		t.pending = nil
		s.mu.Unlock()
		if fn == nil {
			// Parked on a wait object (futex): its waker calls wake.
			return
		}
		ctx := t.startWait()
		go func() {
			ret, err := fn(ctx)
			t.endWait()
			s.wake(t, ret, err)
		}()
	case SwitchExited:
		t.state = threadExited
		s.mu.Unlock()
		t.exit()
	default:
		s.mu.Unlock()
	}
}

// removeIdle takes v off the idle list. Called with mu held.
func (s *scheduler) removeIdle(v *vcpu) {
	for i, x := range s.idle {
		if x == v {
			s.idle = append(s.idle[:i], s.idle[i+1:]...)
			return
		}
	}
}

// othersWaiting reports whether a thread waits in the run queue.
func (s *scheduler) othersWaiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runq.len() > 0
}

// processExiting removes p's queued threads, which exit without running.
// Running threads were kicked and blocked ones interrupted by the caller.
func (s *scheduler) processExiting(p *Process) {
	s.mu.Lock()
	gone := s.runq.removeIf(func(t *Thread) bool { return t.proc == p })
	for _, t := range gone {
		t.state = threadExited
	}
	s.mu.Unlock()
	for _, t := range gone {
		p.threadExited(t, ExitStatus{})
	}
}

// kickThread makes t leave its VCPU at the next safe point, if it runs.
func (s *scheduler) kickThread(t *Thread) {
	s.mu.Lock()
	if t.state == threadRunning && t.vcpu != nil {
		t.vcpu.requestKick(kickThread)
	}
	s.mu.Unlock()
}

// timer enforces the time slices.
func (s *scheduler) timer() {
	period := max(s.slice/2, time.Millisecond)
	tk := time.NewTicker(period)
	defer tk.Stop()
	for {
		select {
		case <-s.timerStop:
			return
		case now := <-tk.C:
			s.tick(now)
		}
	}
}

// tick kicks the VCPUs whose thread or slot time is up while someone
// waits, and those whose thread's process is due a CPU-time timer.
func (s *scheduler) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mono := monoClock(now)
	for _, v := range s.vcpus {
		if v.cur == nil {
			continue
		}
		// The process's runs in progress on the other VCPUs count
		// towards its CPU time too.
		var others int64
		for _, w := range s.vcpus {
			if w != v && w.cur != nil && w.cur.proc == v.cur.proc {
				if rs := w.runStart.Load(); rs != 0 {
					others += mono - rs
				}
			}
		}
		if cpuTimerDue(v.cur, v.runStart.Load(), mono, others) {
			v.requestKick(kickTimer)
		}
	}
	if s.runq.len() > 0 {
		for _, v := range s.vcpus {
			if v.cur != nil && now.Sub(v.threadSince) >= s.slice {
				v.requestKick(kickThread)
			}
		}
	}
	if len(s.slotWait) > 0 {
		for _, sl := range s.slots {
			if sl.owner != nil && now.Sub(sl.since) >= s.slice {
				sl.owner.requestKick(kickPCPU)
			}
		}
	}
}
