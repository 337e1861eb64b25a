package hypervisor

import "time"

// wakeupGranularity is how long a thread must have run before a thread
// that wakes up may take its VCPU (Linux CFS: sched_wakeup_granularity,
// 1 ms): long enough that two threads handing work back and forth do not
// preempt each other at every step.
const wakeupGranularity = time.Millisecond

// wakeupPreempt gives a thread that just woke (its wait ended: a timer
// expired, data came, a futex was woken) a VCPU promptly when none is
// idle: the VCPU whose thread has run longest, at least
// wakeupGranularity, is kicked and its thread preempted. Without it a
// woken thread waits for a whole time slice behind compute-bound ones,
// and the timers of a program (Go's sleep in epoll_pwait) fire late by
// that much.
func (s *scheduler) wakeupPreempt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) > 0 || s.runq.len() == 0 {
		return
	}
	now := time.Now()
	var victim *vcpu
	for _, v := range s.vcpus {
		if v.cur == nil || v.pcpu < 0 || now.Sub(v.threadSince) < wakeupGranularity {
			continue
		}
		if victim == nil || v.threadSince.Before(victim.threadSince) {
			victim = v
		}
	}
	if victim != nil {
		victim.requestKick(kickThread)
	}
}
