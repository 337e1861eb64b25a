package hypervisor

import (
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// vpmuThread is the thread level of the virtual PMU for one guest thread
// (Sum_thread and Start_thread per logical counter): its state page,
// the metadata of each counter slot, and precise-mode state.
//
// The page and the fields below belong to whoever owns the Thread (its
// VCPU's goroutine while it runs), except ctr and exited, which are
// changed with vpmu.mu held so that other threads' inherited reads can
// walk them.
type vpmuThread struct {
	p    *vpmu
	th   *Thread
	tid  int
	slot int    // page pool slot
	gva  uint64 // guest address of the page (the thread's GS base)
	vt   *virt.Thread

	ctr [virt.MaxCounters]*counter
	// lastVCPU is the VCPU the thread last ran on, -1 before it ran.
	lastVCPU int
	// precise counts enabled precise counters: the thread single-steps
	// while it is not zero.
	precise int
	// virtualTF is the trap flag as the program set it: the VMM's own
	// TF is hidden from it (vpmu_step.go).
	virtualTF bool
	// timeDebt is guest time counted beyond the nominal length of the
	// thread's runs, to be left out of its next runs (vpmu_vcpu.go).
	timeDebt uint64
	// lastErr is the text of the last failed paravirtual call.
	lastErr string
	exited  bool
	// dropped marks an exited thread that VPMU.Counts no longer lists
	// (VPMUConfig.ExitedThreads); vpmu.mu protects it.
	dropped bool
	// on is the VCPU the thread is on, nil while it is off every VCPU;
	// pendingSignals counts signals delivered while it was off.
	on             *vpmuVCPU
	pendingSignals uint64
	// comm is the thread's name for reports: its parent's at creation,
	// its own when it exited.
	comm string
	// samp lists the counters that sample (vpmu_sample_thread.go).
	samp threadSampling
}

// counter is the VMM's metadata of one logical counter slot.
type counter struct {
	node    *ctrNode
	b       binding
	ev      pmu.Event // the zero Event for a group's time slot
	inherit bool
	// vmm marks the counters of VPMUConfig.Spec: the program may read
	// them, not change them.
	vmm bool
	// signal marks counters opened with virt.PVOpenSignal, which may
	// sample with overflow signals (vpmu_sample_pv.go).
	signal bool
}

// ctrNode is one thread's copy of a logical counter in its inheritance
// tree: a counter opened with inherit is copied, at the same slot, into
// every thread created afterwards by a thread that has it. vpmu.mu
// protects every field.
type ctrNode struct {
	parent *ctrNode
	th     *vpmuThread // nil once the thread exited
	slot   int
	// final is the thread's own count when it exited; descExited sums
	// the final counts of exited descendants.
	final, descExited uint64
}

// newThreadState gives th a state page. Called with p.mu held.
func (p *vpmu) newThreadState(th *Thread) (*vpmuThread, error) {
	slot, gva, page, err := p.allocThreadPage()
	if err != nil {
		return nil, err
	}
	pt := &vpmuThread{p: p, th: th, tid: th.tid, slot: slot, gva: gva, lastVCPU: -1,
		vt: virt.NewThread(page, gva, uint32(th.tid), vpmuVCPUGVA)}
	p.threads = append(p.threads, pt)
	p.live++
	p.created++
	return pt, nil
}

// attachMain gives the program's first thread its state page and GS
// base, and opens VPMUConfig.Spec on it, inherited, before its first
// instruction.
func (p *vpmu) attachMain(th *Thread) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt, err := p.newThreadState(th)
	if err != nil {
		return err
	}
	pt.comm = commOf(th)
	th.pmu = pt
	th.ctx.gsBase = pt.gva
	p.openSampling(pt)
	pt.applyStepping(&th.ctx)
	s := &p.spec
	if s.timeSlot < 0 {
		return nil
	}
	open := func(slot int, ev pmu.Event, b binding) *ctrNode {
		c := &counter{node: &ctrNode{th: pt, slot: slot}, b: b, ev: ev, inherit: true, vmm: true}
		pt.ctr[slot] = c
		_ = pt.vt.Open(slot, b.src, eventCode(ev), true, nil)
		if b.precise {
			pt.precise++
		}
		return c.node
	}
	s.timeNode = open(s.timeSlot, pmu.Event{}, binding{src: srcTime})
	for i, slot := range s.slots {
		if slot >= 0 {
			s.nodes[i] = open(slot, s.events[i], s.binds[i])
		}
	}
	pt.applyStepping(&th.ctx)
	return nil
}

// cloned gives a new thread its state page and copies of the parent's
// inherited counters, before the child runs. The child's GS base is its
// own page, unless the parent had set GS itself (then the child
// inherits that base, as on Linux, and reads through the paravirtual
// call only).
func (p *vpmu) cloned(parent, child *Thread) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt, err := p.newThreadState(child)
	if err != nil {
		return err
	}
	child.pmu = pt
	pt.comm = commOf(parent)
	if par := parent.pmu; par != nil {
		if parent.ctx.gsBase == par.gva {
			child.ctx.gsBase = pt.gva
		}
		pt.virtualTF = par.virtualTF
		for slot, c := range par.ctr {
			if c == nil || !c.inherit {
				continue
			}
			cc := *c
			cc.node = &ctrNode{parent: c.node, th: pt, slot: slot}
			pt.ctr[slot] = &cc
			enabled := par.vt.Page().Counters[slot].Flags&virt.CounterEnabled != 0
			_ = pt.vt.Open(slot, c.b.src, eventCode(c.ev), enabled, nil)
			if enabled && c.b.precise {
				pt.precise++
			}
		}
		p.samplingCloned(par, pt)
	} else {
		child.ctx.gsBase = pt.gva
	}
	pt.applyStepping(&child.ctx)
	return nil
}

// threadGone records the final counts of a thread that left its VCPU for
// good (or never ran), adds them to its ancestors' inherited sums and to
// the VM's totals of exited threads, and frees its page. It is
// idempotent.
func (p *vpmu) threadGone(th *Thread) {
	pt := th.pmu
	if pt == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt.exited {
		return
	}
	for slot, c := range pt.ctr {
		if c == nil {
			continue
		}
		v, _ := pt.vt.Value(slot, nil)
		c.node.final = v
		for a := c.node.parent; a != nil; a = a.parent {
			a.descExited += v
		}
		c.node.th = nil
	}
	pt.exited = true
	pt.comm = commOf(th)
	p.freeThreadPage(pt.slot)
	p.retire(pt)
}

// switchIn puts the thread on VCPU c (Start_thread = Phys*), after
// folding the host counters, and counts a migration when the thread ran
// on another VCPU last time.
func (pt *vpmuThread) switchIn(c *vpmuVCPU) {
	c.syncHostIfAny()
	pt.vt.SwitchIn(c.v, nil)
	c.cur, pt.on = pt, c
	if pt.pendingSignals > 0 {
		c.add(srcSignals, pt.pendingSignals)
		pt.pendingSignals = 0
	}
	if pt.lastVCPU >= 0 && pt.lastVCPU != c.id {
		c.add(srcMigrations, 1)
	}
	pt.lastVCPU = c.id
}

// switchOut takes the thread off VCPU c (Sum_thread += Phys* -
// Start_thread). A switch for any reason but exit counts as a context
// switch of this thread.
func (pt *vpmuThread) switchOut(c *vpmuVCPU, reason SwitchReason) {
	if reason != SwitchExited {
		c.add(srcContextSwitches, 1)
	}
	c.syncHostIfAny()
	pt.vt.SwitchOut(nil)
	c.cur, pt.on = nil, nil
}

// syncHostIfAny runs syncHost when the VM counts host events at all.
func (c *vpmuVCPU) syncHostIfAny() {
	if len(c.host) > 0 || c.p.hostCount.Load() > 0 {
		c.syncHost()
	}
}

// freeSlots returns n free counter slots, lowest first, or nil.
func (pt *vpmuThread) freeSlots(n int) []int {
	var s []int
	for i, c := range pt.ctr {
		if len(s) == n {
			break
		}
		if c == nil {
			s = append(s, i)
		}
	}
	if len(s) < n {
		return nil
	}
	return s
}

// ownValue is the thread's own count of slot. The thread must not be in
// guest mode (its owner calls it, or it is off every VCPU).
func (pt *vpmuThread) ownValue(slot int) uint64 {
	v, _ := pt.vt.Value(slot, nil)
	return v
}

// inheritedValue is slot's count plus the counts of every descendant
// that inherited it, live or exited (those through the exited sums of
// the nodes). Called with p.mu held by the thread's owner.
func (pt *vpmuThread) inheritedValue(slot int) uint64 {
	c := pt.ctr[slot]
	sum := pt.ownValue(slot) + c.node.descExited
	for _, o := range pt.p.threads {
		if o == pt || o.exited {
			continue
		}
		oc := o.ctr[slot]
		if oc == nil || !descends(oc.node, c.node) {
			continue
		}
		sum += pt.p.liveValue(o, slot)
	}
	return sum
}

// descends reports whether n is a proper descendant of anc.
func descends(n, anc *ctrNode) bool {
	for a := n.parent; a != nil; a = a.parent {
		if a == anc {
			return true
		}
	}
	return false
}
