package hypervisor

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// runThread runs t on the VCPU until t has to leave it. It returns why,
// and whether t's context is already in t.ctx (true after a system call
// that blocks, yields or exits) rather than in the VCPU.
func (v *vcpu) runThread(t *Thread) (SwitchReason, bool) {
	hooks := v.vm.hooks
	for {
		if t.proc.exiting.Load() {
			return SwitchExited, true
		}
		if v.kick.Load() != 0 {
			if reason, leave := v.handleKicks(t); leave {
				return reason, false
			}
		}
		hooks.BeforeRun(v.id)
		v.inGuest.Store(true)
		flips := v.vm.m.mm.phys.flipping.Load()
		start := time.Now()
		v.runStart.Store(monoClock(start))
		v.pmuEnter()
		err := v.k.Run()
		v.pmuLeave(err)
		v.runStart.Store(0)
		v.runs++
		v.inGuest.Store(false)
		v.addCPU(t, time.Since(start))
		v.afterRun()
		v.vm.stats.exits.Add(1)
		if errors.Is(err, kvm.ErrInterrupted) {
			hooks.AfterRun(v.id, kvm.ExitIntr)
			v.pmuInterrupted(t)
			v.dropStaleImmediateExit()
			continue
		}
		if errors.Is(err, unix.EFAULT) && v.vm.m.mm.flipRaced(flips) {
			// A write met pages that invalidate had at PROT_READ.
			hooks.AfterRun(v.id, kvm.ExitIntr)
			continue
		}
		if err != nil {
			hooks.AfterRun(v.id, kvm.ExitUnknown)
			v.crash(t, &GuestCrash{Kind: CrashInternal, Detail: err.Error()})
			return SwitchExited, true
		}
		v.sysretPending = false
		exit := kvm.DecodeExit(kvm.ExitReason(v.run.ExitReason), &v.run.ExitData)
		hooks.AfterRun(v.id, exit.Reason)
		if v.pmuDebugExit(t, exit) {
			continue
		}
		d := classifyExit(exit)
		switch d.action {
		case actSyscall:
			if reason, leave := v.handleSyscall(t); leave {
				return reason, true
			}
		case actException:
			if leave := v.handleException(t); leave {
				return SwitchExited, true
			}
		case actRetry:
		default:
			regs := v.run.Sync.Regs
			v.crash(t, &GuestCrash{Kind: d.kind, Exit: exit, Regs: regs, Detail: d.detail})
			return SwitchExited, true
		}
	}
}

// dropStaleImmediateExit clears immediate_exit after an interrupted run
// when no kick is pending. requestKick sets the kick's reason before
// immediate_exit, so handleKicks may take the reason before the kicker
// sets immediate_exit: left set, it would fail every later KVM_RUN at
// once with no kick to handle, a livelock of interrupted exits. A kick
// that comes after the load sets its reason, which the top of runThread
// sees before the next run.
func (v *vcpu) dropStaleImmediateExit() {
	if v.kick.Load() == 0 {
		v.k.RequestImmediateExit(false)
	}
}

// handleKicks acts on pending kicks at a safe point. It returns leave
// when the thread must leave the VCPU. Not at a safe point (inside a VMM
// stub), it leaves the kicks pending and lets the guest run on to the
// stub's exit.
func (v *vcpu) handleKicks(t *Thread) (SwitchReason, bool) {
	// Clear immediate_exit before taking the reasons: a kick that comes
	// in between sets both again (see requestKick).
	v.k.RequestImmediateExit(false)
	regs, safe := v.userRegs()
	if !safe || v.pmuStepPending(t) {
		return 0, false
	}
	if regs != v.run.Sync.Regs {
		// Hardware KVM returning through the sysretq: take the user
		// context now, so the thread can move. KVM will not skip the out
		// any more: RIP has changed.
		v.setRegs(&regs)
		s := v.run.Sync.Sregs
		userSegments(&s)
		v.setSregs(&s)
	}
	k := v.kick.Swap(0)
	if k&kickPCPU != 0 {
		v.yieldPCPU()
	}
	if k&kickSignal != 0 {
		v.signalsAtKick(t)
	}
	if k&kickThread != 0 {
		if t.proc.exiting.Load() {
			return SwitchExited, true
		}
		if v.vm.sched.othersWaiting() {
			return SwitchPreempted, true
		}
		v.vm.sched.mu.Lock()
		v.threadSince = time.Now()
		v.vm.sched.mu.Unlock()
	}
	return 0, false
}

// handleSyscall runs the system call t made. leave says t must leave
// the VCPU (its context is then in t.ctx).
func (v *vcpu) handleSyscall(t *Thread) (SwitchReason, bool) {
	v.vm.stats.syscalls.Add(1)
	regs := v.run.Sync.Regs
	sregs := &v.run.Sync.Sregs
	// The thread's user context: where SYSCALL came from.
	t.ctx.regs = regs
	t.ctx.regs.RIP, t.ctx.regs.RFLAGS = regs.RCX, sysretFlags(regs.R11)
	t.ctx.fsBase, t.ctx.gsBase = sregs.FS.Base, sregs.GS.Base
	t.ctxChanged = 0
	nr := regs.RAX
	v.pmuSyscall(t, nr)
	t.sig.inSyscall, t.sig.sysNr = true, nr
	v.vm.hooks.OnSyscall(t.tid, v.id, int(nr))
	ret, err := t.dispatchSyscall(nr, SyscallArgs{regs.RDI, regs.RSI, regs.RDX, regs.R10, regs.R8, regs.R9})
	switch {
	case errors.Is(err, errBlock):
		return SwitchBlocked, true
	case errors.Is(err, errThreadExit):
		return SwitchExited, true
	}
	t.setSyscallResult(ret, err)
	v.signalsAtSyscallExit(t)
	if t.proc.exiting.Load() {
		return SwitchExited, true
	}
	if t.yield {
		t.yield = false
		return SwitchYield, true
	}
	// Resume the thread. The common case changes only RAX: on hardware
	// KVM the stub's sysretq (at CPL 0) does the return; on PVM (CPL 3)
	// the VMM jumps to RCX itself.
	if t.ctxChanged == 0 && sregs.CS.Selector&3 == 0 {
		regs.RAX = t.ctx.regs.RAX
		v.setRegs(&regs)
		v.sysretPending = true
		return 0, false
	}
	v.setRegs(&t.ctx.regs)
	if t.ctxChanged&ctxSegments != 0 || sregs.CS.Selector&3 == 0 {
		s := *sregs
		s.FS.Base, s.GS.Base = t.ctx.fsBase, t.ctx.gsBase
		userSegments(&s)
		v.setSregs(&s)
	}
	return 0, false
}

// handleException deals with a guest exception. An exception in user
// code becomes its signal: a handler runs, or the crash is reported; an
// exception inside VMM code is a VMM bug reported as CrashInternal.
// It returns whether the thread must leave.
func (v *vcpu) handleException(t *Thread) bool {
	v.vm.stats.exceptions.Add(1)
	ist1, _ := stackTops(v.id)
	v.vm.m.mm.mu.RLock()
	raw, err := v.vm.m.mm.hostBytes(ist1-excFrameSize, excFrameSize)
	var f excFrame
	if err == nil {
		f = decodeExcFrame(raw)
	}
	v.vm.m.mm.mu.RUnlock()
	if err != nil {
		v.crash(t, &GuestCrash{Kind: CrashInternal, Detail: "read exception frame: " + err.Error()})
		return true
	}
	if v.pmuException(t, &f) {
		return false
	}
	regs := v.run.Sync.Regs
	regs.RIP, regs.RSP, regs.RFLAGS = f.rip, f.rsp, f.rflags
	c := &GuestCrash{
		Kind:      CrashFault,
		Vector:    int(f.vector),
		ErrorCode: f.errorCode,
		Signal:    faultSignal(int(f.vector)),
		Regs:      regs,
	}
	if f.vector == vecPF {
		c.Addr = v.run.Sync.Sregs.CR2
	}
	if f.vector == vecPF && f.cs&3 == 3 && v.retrySpurious(f.rip, c.Addr, f.errorCode) {
		// The mapping changed under the fault: run the instruction again.
		v.resumeUser(t, regs)
		return false
	}
	if f.cs&3 != 3 {
		c.Kind = CrashInternal
		c.Detail = fmt.Sprintf("%s in VMM code (cs %#x)", vectorName(int(f.vector)), f.cs)
	} else if handled, sig, why := v.signalForFault(t, f, regs, c.Addr); handled {
		return t.proc.exiting.Load()
	} else if why != "" {
		c.Signal, c.Detail = sig, why
	}
	v.crash(t, c)
	return true
}

// retrySpurious reports whether a user-mode page fault at rip on addr is
// spurious (MM.permits) and may be retried: at most maxSpuriousFaults
// times in a row for the same instruction and address, with no other
// exit in between.
func (v *vcpu) retrySpurious(rip, addr, errorCode uint64) bool {
	at := [2]uint64{rip, addr}
	if at != v.spuriousAt || v.runs != v.spuriousRun+1 {
		v.spuriousAt, v.spuriousFaults = at, 0
	}
	v.spuriousRun = v.runs
	if v.spuriousFaults >= maxSpuriousFaults || !v.vm.m.mm.permits(addr, errorCode) {
		return false
	}
	v.spuriousFaults++
	return true
}

// crash ends t's process with c, filling in who crashed.
func (v *vcpu) crash(t *Thread, c *GuestCrash) {
	c.TID, c.VCPU = t.tid, v.id
	sig := c.Signal
	if sig == 0 {
		sig = unix.SIGKILL
		if c.Kind == CrashShutdown {
			sig = unix.SIGSEGV
		}
		c.Signal = sig
	}
	v.vm.log.Error("guest crashed", "err", c.Error(), "regs", c.RegisterDump())
	t.proc.exit(ExitStatus{Signal: sig}, c)
}
