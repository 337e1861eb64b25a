package hypervisor

import (
	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/pmu/virt"
)

// The virtual PMU at the VMM's switch points. The VCPU loop, the
// scheduler and the system-call path call these one-line entry points;
// each does nothing when the virtual PMU is off. They run on the VCPU's
// goroutine, like Hooks, but are called directly: the VCPU-level ones
// bracket every KVM_RUN as tightly as possible, and they need the
// thread's state, not its TID.

// pmuEnter is the last thing before KVM_RUN: Start_vcpu = the calibrated
// time of the first guest instruction.
func (v *vcpu) pmuEnter() {
	if c := v.pmu; c != nil {
		c.enter(v.pcpu)
		c.armClock()
	}
}

// pmuLeave is the first thing after KVM_RUN (err is its result):
// Sum_vcpu += guest time of the run, and the exit is tallied.
func (v *vcpu) pmuLeave(err error) {
	if c := v.pmu; c != nil {
		c.leave(err)
		c.countExit(err, v.run)
		if pt := c.cur; pt != nil && pt.samp.mask != 0 {
			c.checkOverflows(pt.samp.mask)
		}
	}
}

// pmuThreadIn puts t's counters on the VCPU (Start_thread = Phys*) and
// loads its single-step state.
func (v *vcpu) pmuThreadIn(t *Thread) {
	c, pt := v.pmu, t.pmu
	if c == nil || pt == nil {
		return
	}
	pt.switchIn(c)
	v.loadStepping(pt)
	v.sampleAtSwitch(t, -1)
}

// pmuThreadOut takes t's counters off the VCPU (Sum_thread += Phys* -
// Start_thread).
func (v *vcpu) pmuThreadOut(t *Thread, reason SwitchReason) {
	c, pt := v.pmu, t.pmu
	if c == nil || pt == nil {
		return
	}
	pt.switchOut(c, reason)
	v.unloadStepping(pt)
	v.sampleAtSwitch(t, reason)
	c.disarmClock()
}

// pmuSyscall tallies a system call of t before it is handled, and, in
// precise mode, counts the SYSCALL instruction itself (it raises no
// single-step trap: SFMASK clears TF).
func (v *vcpu) pmuSyscall(t *Thread, nr uint64) {
	c, pt := v.pmu, t.pmu
	if c == nil || pt == nil {
		return
	}
	c.add(srcSyscalls, 1)
	if nr == virt.PVSyscall {
		c.add(srcPVCalls, 1)
	}
	if pt.precise > 0 {
		v.stepSyscall(t, pt)
	}
	if len(pt.samp.list) != 0 {
		regs := &v.run.Sync.Regs
		v.deliverOverflows(t, regs.RCX-2, regs.RBP, regs.RSP)
	}
}

// pmuSignalDelivered counts a signal delivered to t (a handler frame was
// just built in t.ctx), and keeps precise mode stepping into the handler
// (a handler starts with TF clear). It runs on the goroutine that owns
// t, on a VCPU or not: off one, the tally waits for the next switch-in.
func (t *Thread) pmuSignalDelivered() {
	pt := t.pmu
	if pt == nil {
		return
	}
	if pt.on != nil {
		pt.on.add(srcSignals, 1)
	} else {
		pt.pendingSignals++
	}
	pt.applyStepping(&t.ctx)
}

// pmuException looks at a guest exception before the VMM acts on it. It
// counts page faults, and it consumes the single-step traps of precise
// mode: it returns true when it resumed the thread itself.
func (v *vcpu) pmuException(t *Thread, f *excFrame) bool {
	c, pt := v.pmu, t.pmu
	if c == nil || pt == nil {
		return false
	}
	switch f.vector {
	case vecPF:
		c.add(srcPageFaults, 1)
	case vecDB:
		prev := c.stepPrev
		stepped := v.stepTrap(t, pt, f)
		if stepped && pt.precise > 0 {
			v.sampleAtException(t, prev, f)
		} else {
			v.sampleAtException(t, f.rip, f)
		}
		return stepped
	}
	v.sampleAtException(t, f.rip, f)
	return false
}

// pmuDebugExit handles a KVM_EXIT_DEBUG of precise mode on VMX/SVM hosts
// (KVM_GUESTDBG_SINGLESTEP). It returns true when the exit was one.
func (v *vcpu) pmuDebugExit(t *Thread, e kvm.Exit) bool {
	c, pt := v.pmu, t.pmu
	if c == nil || pt == nil || e.Reason != kvm.ExitDebug {
		return false
	}
	prev := c.stepPrev
	handled := v.stepDebugExit(t, pt, e)
	if len(pt.samp.list) != 0 {
		regs := &v.run.Sync.Regs
		v.deliverOverflows(t, prev, regs.RBP, regs.RSP)
	}
	return handled
}

// mainCreated gives the program's first thread its counter state before
// it runs, and tells ThreadHooks.
func (vm *VM) mainCreated(t *Thread) error {
	if vm.pmu != nil {
		if err := vm.pmu.attachMain(t); err != nil {
			return err
		}
	}
	if h, ok := vm.hooks.(ThreadHooks); ok {
		h.ThreadCreated(0, t.tid, 0)
	}
	return nil
}

// threadCreated is called when clone made child, before it runs: the
// virtual PMU gives it its page and inherited counters, and Hooks that
// implement ThreadHooks hear of it. An error (no state page left) fails
// the clone.
func (t *Thread) threadCreated(child *Thread, flags uint64) error {
	vm := t.proc.vm
	if h, ok := vm.hooks.(ThreadHooks); ok {
		h.ThreadCreated(t.tid, child.tid, flags)
	}
	if vm.pmu != nil {
		return vm.pmu.cloned(t, child)
	}
	return nil
}

// threadGone is called once for every thread that is gone, after its
// last ThreadOut (or without one, if it never ran).
func (p *Process) threadGone(t *Thread) {
	vm := p.vm
	if vm.pmu != nil {
		vm.pmu.threadGone(t)
	}
	if h, ok := vm.hooks.(ThreadHooks); ok {
		h.ThreadExited(t.tid)
	}
}
