package hypervisor

// The thread side of sampling: which of a thread's counters sample, the
// overflow checks at the VMM's points of control, and arming the sample
// clock for time events. The overflow state itself (thresholds, pending
// overflows) is in the thread's virt.Thread.

// threadSampler is one sampling counter of a thread.
type threadSampler struct {
	slot, src int
	// vmm marks the counter of SamplingConfig: its overflows become
	// samples for the sink. signo, when not 0, is the signal the guest
	// asked for at each overflow (paravirtual sampling).
	vmm   bool
	signo int
	// ns marks time events shown in nanoseconds (task-clock): periods
	// are kept in TSC ticks and reported in ns, as nsPeriod.
	ns       bool
	nsPeriod uint64
	// Frequency mode of a count: the wanted samples per second of the
	// thread's guest time, and the state of the period's adjustment.
	freq      uint64
	adjusted  int
	lastNanos int64
	lastCount uint64
}

// threadSampling is a thread's sampling counters and the sources they
// count, as a bit mask for the checks on the hot paths.
type threadSampling struct {
	list []*threadSampler
	mask uint32
}

// add records s, replacing a sampler of the same slot.
func (ts *threadSampling) add(s *threadSampler) {
	ts.remove(s.slot)
	ts.list = append(ts.list, s)
	ts.mask |= 1 << s.src
}

// remove forgets the sampler of slot, if any.
func (ts *threadSampling) remove(slot int) {
	var mask uint32
	out := ts.list[:0]
	for _, s := range ts.list {
		if s.slot != slot {
			out = append(out, s)
			mask |= 1 << s.src
		}
	}
	ts.list, ts.mask = out, mask
}

// samplesTime reports whether a sampler counts guest time.
func (ts *threadSampling) samplesTime() bool { return ts.mask&(1<<srcTime) != 0 }

// openSampling opens the counter of SamplingConfig on the program's first
// thread, inherited, with its period. Called with p.mu held.
func (p *vpmu) openSampling(pt *vpmuThread) {
	// The program's guest sampling (vpmu_sample_pv.go) may need the
	// clock too: start it now, off the VCPUs.
	p.clock.startEarly()
	s := p.samp
	if s == nil {
		return
	}
	c := &counter{node: &ctrNode{th: pt, slot: s.slot}, b: s.b, ev: s.cfg.Event, inherit: true, vmm: true}
	pt.ctr[s.slot] = c
	_ = pt.vt.Open(s.slot, s.b.src, eventCode(s.cfg.Event), true, nil)
	_ = pt.vt.SetPeriod(s.slot, s.period, nil)
	if s.b.precise {
		pt.precise++
	}
	ts := &threadSampler{slot: s.slot, src: s.b.src, vmm: true, ns: s.b.ns, freq: s.freq}
	if s.b.ns {
		ts.nsPeriod = p.vm.VPMU().SamplingPeriod()
	}
	pt.samp.add(ts)
}

// samplingCloned gives a new thread the samplers of the counters it
// inherited from its parent, each with the parent's current period,
// counting from zero. Called with p.mu held, after the counters were
// copied.
func (p *vpmu) samplingCloned(par, child *vpmuThread) {
	for _, s := range par.samp.list {
		if child.ctr[s.slot] == nil || !par.ctr[s.slot].inherit {
			continue
		}
		cs := *s
		cs.adjusted, cs.lastNanos, cs.lastCount = 0, 0, 0
		_ = child.vt.SetPeriod(s.slot, par.vt.Period(s.slot), nil)
		child.samp.add(&cs)
	}
}

// checkOverflows records the overflows of the samplers of the thread on
// the VCPU whose sources are in mask. The VCPU is out of guest mode.
func (c *vpmuVCPU) checkOverflows(mask uint32) {
	pt := c.cur
	if pt == nil {
		return
	}
	for _, s := range pt.samp.list {
		if mask&(1<<s.src) != 0 {
			pt.vt.CheckOverflow(s.slot, nil)
		}
	}
}

// pending reports whether the thread has overflows to deliver.
func (pt *vpmuThread) pending() bool {
	for _, s := range pt.samp.list {
		if pt.vt.Pending(s.slot) != 0 {
			return true
		}
	}
	return false
}

// armClock sets the sample clock for the thread about to run on the
// VCPU: the host TSC at which its first time sampler reaches its next
// threshold, counted the way leave counts the run's guest time (from the
// calibrated start, less the smallest exit cost). Called after enter.
func (c *vpmuVCPU) armClock() {
	pt := c.cur
	if pt == nil || !pt.samp.samplesTime() {
		return
	}
	rem := ^uint64(0)
	for _, s := range pt.samp.list {
		if s.src == srcTime {
			if r, ok := pt.vt.Remaining(s.slot, c.physEnter); ok {
				rem = min(rem, r)
			}
		}
	}
	if rem == ^uint64(0) {
		return
	}
	c.p.clock.arm(c.id, c.start-c.off+rem+c.exitMin)
}

// disarmClock clears the VCPU's deadline when its thread leaves.
func (c *vpmuVCPU) disarmClock() {
	if c.p.clock != nil {
		c.p.clock.disarm(c.id)
	}
}
