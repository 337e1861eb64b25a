package hypervisor

import (
	"path/filepath"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// VPMUCounts is VPMUConfig.Spec counted by the virtual PMU: per guest
// thread (live and exited), per VCPU and for the whole VM. Every value of
// an event shares the time of the VMM's time slot: Enabled and Running
// are the guest time of the thread (or VCPU), equal because the VM never
// multiplexes.
type VPMUCounts struct {
	// Events are the spec's events in order; Errs holds, per event, nil
	// or why it is not counted (a *pmu.NotSupportedError).
	Events []pmu.Event
	Errs   []error
	// Threads has one entry per thread the program ever had, in
	// creation order.
	Threads []VPMUThreadCounts
	// VCPUs has one entry per VCPU: what each source counted on it,
	// whichever thread ran.
	VCPUs []VPMUVCPUCounts
	// Total is the sum over Threads.
	Total []pmu.Value
	// Calibration is the VM's entry and exit calibration.
	Calibration Calibration
}

// VPMUThreadCounts is one thread's counts, one Value per event.
type VPMUThreadCounts struct {
	TID    int
	Comm   string
	Exited bool
	Values []pmu.Value
}

// VPMUVCPUCounts is one VCPU's counts, one Value per event.
type VPMUVCPUCounts struct {
	VCPU   int
	Values []pmu.Value
}

// Counts returns the spec's counts now. After VM.Run returned they are
// final; during a run live threads are read without being stopped.
func (u *VPMU) Counts() VPMUCounts {
	p := u.p
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.spec
	out := VPMUCounts{Events: s.events, Errs: s.errs, Calibration: p.calib}
	nanos := func(ticks uint64) time.Duration { return p.calib.Nanos(ticks) }
	value := func(i int, raw, timeTicks uint64) pmu.Value {
		v := pmu.Value{Event: s.events[i], Raw: raw}
		if s.errs[i] != nil {
			return v
		}
		if s.binds[i].ns {
			v.Raw = uint64(nanos(raw))
		}
		v.Enabled = nanos(timeTicks)
		v.Running = v.Enabled
		return v
	}
	out.Total = make([]pmu.Value, len(s.events))
	for i := range out.Total {
		out.Total[i] = value(i, 0, 0)
	}
	var totalTime uint64
	if s.timeSlot >= 0 {
		for _, pt := range p.threads {
			tc := VPMUThreadCounts{TID: pt.tid, Comm: pt.comm, Exited: pt.exited, Values: make([]pmu.Value, len(s.events))}
			tt := p.nodeValue(pt, s.timeSlot, s.timeNode)
			totalTime += tt
			for i, slot := range s.slots {
				var raw uint64
				if slot >= 0 {
					raw = p.nodeValue(pt, slot, s.nodes[i])
				}
				tc.Values[i] = value(i, raw, tt)
				out.Total[i].Raw += tc.Values[i].Raw
			}
			out.Threads = append(out.Threads, tc)
		}
		for i := range out.Total {
			if s.errs[i] == nil {
				out.Total[i].Enabled = nanos(totalTime)
				out.Total[i].Running = out.Total[i].Enabled
			}
		}
	}
	for id := range p.vcpus {
		vc := VPMUVCPUCounts{VCPU: id, Values: make([]pmu.Value, len(s.events))}
		tt := p.vcpuValue(id, srcTime)
		for i := range s.events {
			var raw uint64
			if s.errs[i] == nil {
				raw = p.vcpuValue(id, s.binds[i].src)
			}
			vc.Values[i] = value(i, raw, tt)
		}
		out.VCPUs = append(out.VCPUs, vc)
	}
	return out
}

// nodeValue is pt's count of the spec counter at slot whose root is
// root: its final count once exited, else a live read. A thread without
// a copy of the counter counts 0. Called with p.mu held.
func (p *vpmu) nodeValue(pt *vpmuThread, slot int, root *ctrNode) uint64 {
	c := pt.ctr[slot]
	if c == nil || (c.node != root && !descends(c.node, root)) {
		return 0
	}
	if c.node.th == nil {
		return c.node.final
	}
	return p.liveValue(pt, slot)
}

// commOf is a thread's name as Linux's comm shows it: the name set with
// PR_SET_NAME, else the program's file name, cut to 15 bytes. It reads
// the thread's name, so the caller must own the thread or see it after
// its owner is done with it.
func commOf(t *Thread) string {
	n := t.name
	if n == "" {
		n = filepath.Base(t.proc.exe)
	}
	if len(n) > taskComm-1 {
		n = n[:taskComm-1]
	}
	return n
}
