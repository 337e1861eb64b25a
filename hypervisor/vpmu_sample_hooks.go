package hypervisor

// Entry points of sampling at the VMM's points of control, besides the
// ones in vpmu_hooks.go: each delivers the pending overflows of the thread
// with the user context the VMM has there (see vpmu_sample_deliver.go).

// pmuInterrupted runs after a KVM_RUN that a signal interrupted (a kick
// of the scheduler or of the sample clock). At a safe point the thread's
// user registers are those of the interrupted instruction. Inside a VMM
// stub they are not; the stub's own exit follows at once and delivers.
func (v *vcpu) pmuInterrupted(t *Thread) {
	pt := t.pmu
	if v.pmu == nil || pt == nil || len(pt.samp.list) == 0 || !pt.pending() {
		return
	}
	if regs, safe := v.userRegs(); safe {
		v.deliverOverflows(t, regs.RIP, regs.RBP, regs.RSP)
	}
}

// sampleAtException delivers at a guest exception: ip is the faulting
// instruction, or the instruction a single step counted.
func (v *vcpu) sampleAtException(t *Thread, ip uint64, f *excFrame) {
	if pt := t.pmu; pt != nil && len(pt.samp.list) != 0 {
		v.deliverOverflows(t, ip, v.run.Sync.Regs.RBP, f.rsp)
	}
}

// sampleAtSwitch delivers when t is switched in (reason -1) or out: its
// context is in t.ctx. A thread leaving the VCPU inside a system call
// (blocked, yielding, exiting) is at its SYSCALL, two bytes before where
// it resumes.
func (v *vcpu) sampleAtSwitch(t *Thread, reason SwitchReason) {
	pt := t.pmu
	if pt == nil || len(pt.samp.list) == 0 || !pt.pending() {
		return
	}
	r := &t.ctx.regs
	ip := r.RIP
	switch reason {
	case SwitchBlocked, SwitchYield, SwitchExited:
		ip -= 2
	}
	v.deliverOverflows(t, ip, r.RBP, r.RSP)
}
