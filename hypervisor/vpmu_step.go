package hypervisor

import (
	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// Precise mode: while a thread has an enabled precise counter, its VCPU
// single-steps it and the VMM counts every guest-program instruction
// (srcInstructions) and every branch among them (srcBranches), decoding
// the stepped instruction with x86asm.
//
// PVM hosts: the thread runs with RFLAGS.TF set. Each instruction ends
// with a #DB trap, which the guest IDT sends through the #DB stub to the
// VMM (port 0x11); the frame's RIP is the next instruction. The VMM
// counts the instruction at the address it last resumed the thread at
// (vpmuVCPU.stepPrev: every register load through vcpu.setRegs sets it)
// and resumes with TF forced on. Special cases:
//
//   - SYSCALL clears TF (SFMASK) and raises no trap: it is counted on
//     the system-call path when the thread was resumed right at it.
//   - A REP string instruction traps after every iteration with RIP
//     unchanged: it counts once, when RIP moves on, as hardware counts.
//   - POPF and IRET may clear TF (a trap still follows them), so TF is
//     forced on at every resume. PUSHF would expose the VMM's TF: the
//     pushed value's TF is rewritten to the program's own (virtualTF),
//     and a POPF or IRET sets virtualTF from what it popped.
//
// VMX/SVM hosts: KVM_GUESTDBG_SINGLESTEP makes KVM exit after every
// instruction (KVM_EXIT_DEBUG) and hides TF from the guest; the same
// counting rules apply to the exits.

// stepByTF reports whether precise mode uses the guest's TF (PVM: KVM's
// single-step gives one debug exit and then sends #DB to the guest IDT)
// rather than KVM_GUESTDBG_SINGLESTEP.
func (p *vpmu) stepByTF() bool { return p.kind == kvm.HostPVM }

// applyStepping sets or clears TF in ctx for the thread's precise state
// (PVM only; elsewhere KVM's guest debugging owns TF).
func (pt *vpmuThread) applyStepping(ctx *threadContext) {
	if !pt.p.stepByTF() {
		return
	}
	switch {
	case pt.precise > 0:
		ctx.regs.RFLAGS |= rflagsTF
	case !pt.virtualTF:
		ctx.regs.RFLAGS &^= rflagsTF
	}
}

// steppingChanged makes a change of t's precise state take effect when
// the current system call returns.
func (v *vcpu) steppingChanged(t *Thread) {
	pt := t.pmu
	pt.applyStepping(&t.ctx)
	t.ctxChanged |= ctxRegisters
	v.loadStepping(pt)
}

// loadStepping turns KVM's single-stepping on or off for the thread now
// on the VCPU (VMX/SVM).
func (v *vcpu) loadStepping(pt *vpmuThread) {
	c := v.pmu
	if pt.p.stepByTF() || (pt.precise > 0) == c.guestDebug {
		return
	}
	d := kvm.GuestDebug{}
	if pt.precise > 0 {
		d.Control = kvm.GuestDebugEnable | kvm.GuestDebugSingleStep
	}
	if err := v.k.SetGuestDebug(&d); err != nil {
		v.vm.log.Error("vpmu: cannot switch single-stepping for precise mode", "tid", pt.tid, "err", err)
		return
	}
	c.guestDebug = pt.precise > 0
}

// unloadStepping is called when the thread leaves the VCPU; the next
// thread's loadStepping sets the VCPU up for itself.
func (v *vcpu) unloadStepping(*vpmuThread) {}

// countStep counts the instruction at prev, given where execution went
// (next), and returns it.
func (v *vcpu) countStep(t *Thread, prev, next uint64) stepInsn {
	c := v.pmu
	in := c.dec.decode(t.MM(), prev)
	if in.bad {
		c.badDecodes++
		if c.badDecodes == 1 {
			v.vm.log.Warn("vpmu: precise mode cannot decode an instruction; counting it as a non-branch", "tid", t.tid, "rip", prev)
		}
	}
	if next == prev && in.repString {
		return in // an iteration, not the end of the instruction
	}
	c.add(srcInstructions, 1)
	if in.branch {
		c.add(srcBranches, 1)
	}
	return in
}

// stepSyscall counts the SYSCALL instruction of a stepping thread and
// keeps TF on across the call.
func (v *vcpu) stepSyscall(t *Thread, pt *vpmuThread) {
	c := v.pmu
	regs := &v.run.Sync.Regs
	if c.stepPrev == regs.RCX-2 {
		c.add(srcInstructions, 1)
		c.add(srcBranches, 1)
	} else if pt.p.stepByTF() && regs.R11&rflagsTF == 0 {
		c.lostSteps++
		if c.lostSteps == 1 {
			v.vm.log.Warn("vpmu: a precise-mode thread ran without single-stepping; its instruction count is low", "tid", t.tid)
		}
	}
	c.sysretTo = regs.RCX
	if pt.p.stepByTF() {
		// The return restores RFLAGS from the context: keep TF, and
		// hide it from the R11 the program sees.
		t.ctx.regs.RFLAGS |= rflagsTF
		if !pt.virtualTF {
			t.ctx.regs.R11 &^= rflagsTF
		}
		t.ctxChanged |= ctxRegisters
	}
}

// stepTrap handles a #DB from user code (PVM). It returns false when the
// trap is not precise mode's (the program single-steps itself).
func (v *vcpu) stepTrap(t *Thread, pt *vpmuThread, f *excFrame) bool {
	if f.cs&3 != 3 || !pt.p.stepByTF() {
		return false
	}
	if pt.precise == 0 {
		if pt.virtualTF {
			return false
		}
		// The last precise counter went off while TF was still set.
		v.resumeAfterTrap(f, false)
		return true
	}
	in := v.countStep(t, v.pmu.stepPrev, f.rip)
	switch in.flags {
	case tfPush16, tfPush64:
		size := uint64(2)
		if in.flags == tfPush64 {
			size = 8
		}
		var b [8]byte
		if t.MM().CopyIn(f.rsp, b[:size]) == nil {
			if pt.virtualTF {
				b[1] |= rflagsTF >> 8
			} else {
				b[1] &^= rflagsTF >> 8
			}
			_ = t.MM().CopyOut(f.rsp, b[:size])
		}
	case tfPop:
		pt.virtualTF = f.rflags&rflagsTF != 0
	}
	v.resumeAfterTrap(f, true)
	return true
}

// resumeAfterTrap returns to the user context of an exception frame,
// with TF on or off.
func (v *vcpu) resumeAfterTrap(f *excFrame, tf bool) {
	regs := v.run.Sync.Regs
	regs.RIP, regs.RSP = f.rip, f.rsp
	regs.RFLAGS = f.rflags | rflagsReserved | rflagsIF
	if tf {
		regs.RFLAGS |= rflagsTF
	} else {
		regs.RFLAGS &^= rflagsTF
	}
	v.setRegs(&regs)
	s := v.run.Sync.Sregs
	userSegments(&s)
	v.setSregs(&s)
}

// stepDebugExit handles a single-step exit (VMX/SVM).
func (v *vcpu) stepDebugExit(t *Thread, pt *vpmuThread, e kvm.Exit) bool {
	c := v.pmu
	if pt.precise == 0 {
		v.loadStepping(pt)
		return true
	}
	next := v.run.Sync.Regs.RIP
	prev := c.stepPrev
	if inVMMArea(prev) && !inVMMArea(next) && c.sysretTo != 0 {
		// The stub's SYSRET returned to the program, which ran one
		// instruction at the return address.
		prev = c.sysretTo
	}
	c.sysretTo = 0
	if !inVMMArea(prev) {
		v.countStep(t, prev, next)
	}
	c.stepPrev = next
	return true
}

// inVMMArea reports whether gva is VMM code or data rather than the
// program's.
func inVMMArea(gva uint64) bool { return gva >= vmmBase }

// pmuStepPending reports whether a stepping thread has a single-step
// trap queued but not yet delivered (an interrupted KVM_RUN can return
// between the two). The thread must not leave the VCPU then, or the trap
// would be delivered into the next thread's context.
func (v *vcpu) pmuStepPending(t *Thread) bool {
	pt := t.pmu
	if v.pmu == nil || pt == nil || pt.precise == 0 || !pt.p.stepByTF() {
		return false
	}
	ev, err := v.k.Events()
	return err == nil && (ev.Exception.Pending != 0 || ev.Exception.Injected != 0)
}
