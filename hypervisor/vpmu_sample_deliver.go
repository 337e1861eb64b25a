package hypervisor

import (
	"math"

	"github.com/vpmu/vpmu/pmu/virt"
)

// Delivery of overflows: where the VMM knows the thread's user context,
// it takes the thread's pending overflows and turns each sampler's into a
// sample for the sink, a signal to the guest, or both. The entry points
// (vpmu_sample_hooks.go) say where the thread is:
//
//	exit, how                      IP of the sample
//	KVM_RUN interrupted (a kick)   the interrupted instruction (RIP)
//	system call                    the SYSCALL instruction, RCX-2
//	exception (page fault, ...)    the faulting instruction (frame RIP)
//	precise single step            the instruction just counted
//	thread switch                  where the thread resumes (in a system
//	                               call: its SYSCALL)

// vcpuSampling is a VCPU's scratch for samples: reused, so that taking a
// sample does not allocate.
type vcpuSampling struct {
	sample Sample
	stack  []uint64
}

// deliverOverflows delivers t's pending overflows with the thread at ip,
// frame pointer bp and stack pointer sp. It runs on the goroutine of
// VCPU v, which owns t.
func (v *vcpu) deliverOverflows(t *Thread, ip, bp, sp uint64) {
	pt := t.pmu
	if pt == nil || len(pt.samp.list) == 0 {
		return
	}
	p := pt.p
	for _, s := range pt.samp.list {
		k := pt.vt.TakePending(s.slot)
		if k == 0 {
			continue
		}
		events := satMul(k, pt.vt.Period(s.slot))
		if s.ns {
			events = satMul(k, s.nsPeriod)
		}
		if s.vmm {
			// Overflows of the VMM's own sampling, against which
			// samples tell how many came late.
			p.sampStats.overflows.Add(k)
			v.emitSample(t, ip, bp, sp, k, events)
		}
		if s.signo != 0 {
			info := siginfo{signo: int32(s.signo), code: virt.PVSignalCode, pid: uint32(t.proc.pid),
				value: uint64(s.slot) | min(k, math.MaxUint32)<<32}
			t.proc.sendSignal(info, t, t)
			p.sampStats.signals.Add(1)
			// Deliver it at the next safe point, also when no system
			// call ends before the thread runs on.
			v.kick.Or(kickSignal)
		}
		if s.freq != 0 {
			pt.retune(t, s)
		}
	}
}

// emitSample hands one sample to the sink.
func (v *vcpu) emitSample(t *Thread, ip, bp, sp, k, events uint64) {
	p, c := v.vm.pmu, v.pmu
	sc := &c.samp
	s := &sc.sample
	*s = Sample{PID: t.proc.pid, TID: t.tid, Comm: commOf(t), VCPU: v.id, PCPU: v.pcpu,
		Time: uint64(p.calib.Nanos(rdtsc())), Overflows: k, Period: events, IP: ip, Stack: sc.stack[:0]}
	if p.samp.cfg.Stacks {
		s.Stack, s.StackEnd = walkFrames(t.MM(), bp, sp, p.samp.depth, sc.stack[:0])
		sc.stack = s.Stack[:0]
		p.sampStats.frames.Add(uint64(len(s.Stack)))
	}
	p.sampStats.ends[s.StackEnd].Add(1)
	s.Maps = p.maps.snapshot(t.MM(), &p.sampStats)
	p.sampStats.samples.Add(1)
	p.samp.cfg.Sink.Sample(s)
}

// retune adapts the period of a sampler in frequency mode after an
// overflow, the way perf does: the rate the thread counted at since the
// last overflow (events per second of its running time on a VCPU) over
// the wanted frequency is the ideal period; the first adjustment takes
// it, later ones move an eighth of the way towards it.
func (pt *vpmuThread) retune(t *Thread, s *threadSampler) {
	now := t.cpuNanos.Load()
	count, _ := pt.vt.Value(s.slot, nil)
	dt, dn := now-s.lastNanos, count-s.lastCount
	s.lastNanos, s.lastCount = now, count
	if dt <= 0 || dn == 0 {
		return
	}
	ideal := float64(dn) * 1e9 / (float64(dt) * float64(s.freq))
	next := ideal
	if s.adjusted > 0 {
		cur := float64(pt.vt.Period(s.slot))
		next = cur + (ideal-cur)/8
	}
	s.adjusted++
	_ = pt.vt.Retune(s.slot, uint64(min(max(next+0.5, 1), 1<<48)))
}

// satMul is a*b, saturated at the largest uint64.
func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}
