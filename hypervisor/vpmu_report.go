package hypervisor

import (
	"path/filepath"

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
	// Threads has one entry per live thread and per exited thread
	// VPMUConfig.ExitedThreads keeps (by default every thread the
	// program ever had), in creation order. It is empty from
	// VPMU.TotalCounts.
	Threads []VPMUThreadCounts
	// VCPUs has one entry per VCPU: what each source counted on it,
	// whichever thread ran.
	VCPUs []VPMUVCPUCounts
	// Total is the sum over every thread the program ever had, those
	// Threads leaves out included: with every thread listed, exactly the
	// sum over Threads.
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
// final; during a run live threads are read without being stopped. Its
// cost grows with the threads it lists (VPMUConfig.ExitedThreads).
func (u *VPMU) Counts() VPMUCounts { return u.p.counts(true) }

// TotalCounts is Counts without the per-thread rows (Threads is empty):
// the totals and the VCPUs. Its cost grows with the live threads only,
// not with the threads that exited, which is what a metrics scrape
// without per-thread series wants.
func (u *VPMU) TotalCounts() VPMUCounts { return u.p.counts(false) }

// counts is Counts, with the per-thread rows when perThread.
func (p *vpmu) counts(perThread bool) VPMUCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.spec
	out := VPMUCounts{Events: s.events, Errs: s.errs, Calibration: p.calib}
	out.Total = make([]pmu.Value, len(s.events))
	for i := range out.Total {
		out.Total[i] = p.specValue(i, 0, 0)
		out.Total[i].Raw = p.exitedRaw[i] // in Counts' units already
	}
	if s.timeSlot >= 0 {
		totalTime := p.exitedTime
		for _, pt := range p.threads {
			if pt.dropped || pt.exited && !perThread {
				continue
			}
			tc := VPMUThreadCounts{TID: pt.tid, Comm: pt.comm, Exited: pt.exited, Values: make([]pmu.Value, len(s.events))}
			tt := p.threadValues(pt, tc.Values)
			if !pt.exited {
				// Exited threads are in exitedRaw and exitedTime.
				totalTime += tt
				for i := range out.Total {
					out.Total[i].Raw += tc.Values[i].Raw
				}
			}
			if perThread {
				out.Threads = append(out.Threads, tc)
			}
		}
		for i := range out.Total {
			if s.errs[i] == nil {
				out.Total[i].Enabled = p.calib.Nanos(totalTime)
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
			vc.Values[i] = p.specValue(i, raw, tt)
		}
		out.VCPUs = append(out.VCPUs, vc)
	}
	return out
}

// specValue is the Value of spec event i for a raw count of its source
// in guest time timeTicks: time events in nanoseconds, Enabled and
// Running the guest time; only the event for one not counted.
func (p *vpmu) specValue(i int, raw, timeTicks uint64) pmu.Value {
	s := &p.spec
	v := pmu.Value{Event: s.events[i], Raw: raw}
	if s.errs[i] != nil {
		return v
	}
	if s.binds[i].ns {
		v.Raw = uint64(p.calib.Nanos(raw))
	}
	v.Enabled = p.calib.Nanos(timeTicks)
	v.Running = v.Enabled
	return v
}

// threadValues fills vals (one per spec event) with pt's counts and
// returns its guest time in ticks. The spec must be counted (timeSlot
// >= 0). Called with p.mu held.
func (p *vpmu) threadValues(pt *vpmuThread, vals []pmu.Value) uint64 {
	s := &p.spec
	tt := p.nodeValue(pt, s.timeSlot, s.timeNode)
	for i, slot := range s.slots {
		var raw uint64
		if slot >= 0 {
			raw = p.nodeValue(pt, slot, s.nodes[i])
		}
		vals[i] = p.specValue(i, raw, tt)
	}
	return tt
}

// retire adds the final counts of pt, which has just exited, to the
// exited sums, and keeps its entry in threads for Counts as
// VPMUConfig.ExitedThreads says, dropping the oldest exited entry beyond
// the bound. Called with p.mu held, once per thread.
func (p *vpmu) retire(pt *vpmuThread) {
	p.live--
	if s := &p.spec; s.timeSlot >= 0 {
		vals := make([]pmu.Value, len(s.events))
		p.exitedTime += p.threadValues(pt, vals)
		for i, v := range vals {
			p.exitedRaw[i] += v.Raw
		}
	}
	switch n := p.cfg.ExitedThreads; {
	case n < 0:
		p.drop(pt)
	case n > 0:
		p.exitQueue = append(p.exitQueue, pt)
		if len(p.exitQueue) > n {
			p.drop(p.exitQueue[0])
			p.exitQueue[0] = nil
			p.exitQueue = p.exitQueue[1:]
		}
	}
}

// drop takes an exited thread out of what Counts lists. Its entry stays
// in threads, skipped, until enough entries are dropped to compact the
// list in one pass (amortized constant time per thread). Called with
// p.mu held.
func (p *vpmu) drop(pt *vpmuThread) {
	pt.dropped = true
	p.dropped++
	if p.dropped < 64 || 2*p.dropped < len(p.threads) {
		return
	}
	kept := make([]*vpmuThread, 0, 2*(len(p.threads)-p.dropped))
	for _, o := range p.threads {
		if !o.dropped {
			kept = append(kept, o)
		}
	}
	p.threads, p.dropped = kept, 0
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
