package hypervisor

import (
	"errors"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/pmu/virt"
)

// vpmuVCPU is the VCPU level of the virtual PMU (Sum_vcpu and
// Start_vcpu per source): it enters and leaves guest mode around every
// KVM_RUN and counts the VMM's tallies. Only the VCPU's goroutine uses
// it.
type vpmuVCPU struct {
	p  *vpmu
	id int
	v  *virt.VCPU

	// From the calibration: guest TSC offset; the mean entry and exit
	// costs; the smallest exit cost; the shortest round trip that can
	// have entered guest mode.
	off, entry, exit, exitMin, minTrip uint64
	// enterTSC and exitTSC are the host TSC just before and just after
	// the last KVM_RUN; start and end are the guest-TSC bounds of the
	// guest time it counted.
	enterTSC, exitTSC, start, end uint64
	// physEnter and physExit are the PhysFuncs of Enter and Exit, made
	// once so that the hot path does not allocate.
	physEnter, physExit virt.PhysFunc
	// cur is the thread on the VCPU, whose time debt applies.
	cur *vpmuThread

	// Precise mode (vpmu_step.go). stepPrev is where the VCPU last
	// resumed the thread (vcpu.setRegs sets it), so the instruction a
	// single-step trap ends; sysretTo is the return address of the last
	// system call (VMX/SVM); guestDebug says KVM single-steps this VCPU.
	stepPrev, sysretTo    uint64
	guestDebug            bool
	dec                   stepDecoder
	badDecodes, lostSteps uint64

	// host are the guest-only host counters of this VCPU's thread, by
	// host source index (source srcHostFirst+i); nil until a thread
	// needs them.
	host []*pmuHostSource

	// samp is the scratch of the samples this VCPU takes
	// (vpmu_sample_deliver.go).
	samp vcpuSampling
}

// newVPMUVCPU initializes page as VCPU id's state page with every fixed
// source.
func newVPMUVCPU(p *vpmu, id int, page *virt.VCPUPage) *vpmuVCPU {
	cal := &p.calib
	c := &vpmuVCPU{p: p, id: id, v: virt.NewVCPU(page, uint32(id)),
		off: p.off, entry: cal.EntryTicks, exit: cal.ExitTicks, exitMin: cal.ExitMinTicks,
		minTrip: cal.Entry.Min + cal.Exit.Min}
	c.physEnter = func(int, *virt.SourceSlot) uint64 { return c.start }
	c.physExit = func(int, *virt.SourceSlot) uint64 { return c.end }
	c.v.SetTSCScale(p.tscScale())
	for src := 0; src < srcHostFirst; src++ {
		// Cannot fail: src is in range and the VCPU is not running.
		_ = c.v.SetSource(src, sourceKind(src), 64, 0)
	}
	return c
}

// Guest time of a run (docs/vpmu.md, "Guest time"). Its nominal length
// is the host TSC span of KVM_RUN minus the mean entry and exit costs.
// What a run adds, and what a read in guest mode shows, is the TSC from
// start = host TSC before KVM_RUN + mean entry cost + the thread's time
// debt, to end = host TSC after KVM_RUN - the smallest exit cost, and
// nothing when end < start. The smallest exit cost keeps reads
// monotonic: the time folded in at an exit is never below what a read
// just before it showed. The difference from the nominal length, whether
// the run counted too much (the exit was slower than the smallest) or
// too little (a clamped run), goes into the thread's time debt, which
// delays the start of its next run: over many runs the counts follow the
// nominal lengths, without bias from the calibration's choice of
// minimum.

// enter records that the VCPU enters guest mode on PCPU slot pcpu. It is
// the last thing before KVM_RUN.
func (c *vpmuVCPU) enter(pcpu int) {
	c.enterTSC = rdtsc()
	c.start = c.enterTSC + c.off + c.entry
	if c.cur != nil {
		c.start += c.cur.timeDebt
	}
	c.v.Enter(uint32(pcpu), c.physEnter)
}

// leave records that the VCPU left guest mode. It is the first thing
// after KVM_RUN; err is KVM_RUN's result.
func (c *vpmuVCPU) leave(err error) {
	c.exitTSC = rdtsc()
	span := c.exitTSC - c.enterTSC
	// An interrupted KVM_RUN shorter than the fastest calibrated round
	// trip never entered guest mode (immediate_exit): no time, no debt.
	entered := err == nil || span >= c.minTrip
	c.end = c.exitTSC + c.off - c.exitMin
	if !entered || int64(c.end-c.start) < 0 {
		c.end = c.start
	}
	c.v.Exit(c.physExit)
	if pt := c.cur; pt != nil && entered {
		nominal := int64(span) - int64(c.entry+c.exit)
		pt.timeDebt = uint64(max(0, int64(pt.timeDebt)+int64(c.end-c.start)-nominal))
	}
}

// add counts n events of a VMM tally (the VCPU is out of guest mode).
func (c *vpmuVCPU) add(src int, n uint64) {
	c.v.Add(src, n)
	if pt := c.cur; pt != nil && pt.samp.mask&(1<<src) != 0 {
		c.checkOverflows(1 << src)
	}
}

// countExit tallies the exit KVM_RUN returned with (err from Run, the
// exit in run).
func (c *vpmuVCPU) countExit(err error, run *kvm.Run) {
	c.v.Add(srcExits, 1)
	if err != nil {
		if errors.Is(err, kvm.ErrInterrupted) {
			c.v.Add(srcExitsInterrupt, 1)
		}
		return
	}
	switch kvm.ExitReason(run.ExitReason) {
	case kvm.ExitIO:
		// The port is at bytes 2-3 of the exit union (struct kvm_run io).
		if uint16(run.ExitData[2])|uint16(run.ExitData[3])<<8 == portException {
			c.v.Add(srcExitsException, 1)
		} else {
			c.v.Add(srcExitsIO, 1)
		}
	case kvm.ExitMMIO:
		c.v.Add(srcExitsMMIO, 1)
	case kvm.ExitDebug, kvm.ExitException:
		c.v.Add(srcExitsException, 1)
	}
}

// value returns Phys* of a source: what it counted on this VCPU so far.
// The VCPU must be out of guest mode.
func (c *vpmuVCPU) value(src int) uint64 { return c.v.Value(src, nil) }
