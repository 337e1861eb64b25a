package hypervisor

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// Kick reasons (vcpu.kick bits).
const (
	kickThread = 1 << 0 // leave the current thread: slice over, or it must exit
	kickPCPU   = 1 << 1 // give the PCPU slot up for a while
	kickSignal = 1 << 2 // a signal is pending for the thread: deliver it
	kickSample = 1 << 3 // the sample clock: a time event's threshold is up
	kickTimer  = 1 << 4 // a CPU-time timer of the thread's process is due (checked after every run)
)

// vcpu is one VCPU of the VM and the goroutine that runs it. The
// goroutine is locked to its OS thread for its whole life (KVM is much
// slower when a vcpu fd moves between threads) and is the only one that
// issues ioctls on it.
type vcpu struct {
	vm  *VM
	id  int
	k   *kvm.VCPU
	run *kvm.Run

	// osTID is the OS thread the goroutine runs on, for kicks.
	osTID atomic.Int32
	// inGuest is true while the goroutine is inside KVM_RUN (or about to
	// enter it); kicks only signal then.
	inGuest atomic.Bool
	// kick holds pending kick reasons.
	kick atomic.Uint32
	// runStart is when the current KVM_RUN began (monoClock), 0 outside
	// it: the scheduler's tick adds the run in progress to the process's
	// CPU time when it checks the CPU-time timers.
	runStart atomic.Int64
	// parker is where the goroutine sleeps when idle or waiting for a
	// PCPU slot.
	parker parker

	// Scheduler state, protected by scheduler.mu.
	cur         *Thread
	pcpu        int // held slot, or -1
	lastPCPU    int // slot held last, or -1
	threadSince time.Time

	// Owned by the goroutine.
	// wantRegs/wantSregs are the register writes pending in kvm_run's
	// sync area, kept in case an old kernel returns from an immediate
	// exit without consuming them (see applyPending).
	wantRegs  kvm.Regs
	wantSregs kvm.Sregs
	// loaded is the thread whose FPU state the VCPU holds, at
	// loadedGen.
	loaded    *Thread
	loadedGen uint64
	// pmu is the VCPU level of the virtual PMU, nil when it is off.
	pmu *vpmuVCPU

	// sysretPending is set when a system call returned through the
	// syscall stub's sysretq (hardware KVM, CPL 0) and no exit has
	// happened since: the VCPU may still sit on the stub's out, which KVM
	// completes (skips) at the next entry.
	sysretPending bool
	// spuriousFaults counts the page faults in a row at spuriousAt (RIP
	// and address) retried because the leaf allowed the access
	// (MM.permits); spuriousRun is the run (runs) of the last one, so
	// that any other exit in between starts the count again.
	spuriousFaults int
	spuriousAt     [2]uint64
	spuriousRun    uint64
	// runs counts this VCPU's KVM_RUNs.
	runs uint64
}

func newVCPU(vm *VM, id int, k *kvm.VCPU) *vcpu {
	return &vcpu{vm: vm, id: id, k: k, run: k.RunData(), pcpu: -1, lastPCPU: -1}
}

// loop is the VCPU goroutine: pick a thread, get a PCPU slot, run the
// thread until it leaves, repeat until the scheduler stops.
func (v *vcpu) loop() {
	// Never unlocked: the OS thread ends with the goroutine, taking any
	// CPU affinity with it.
	runtime.LockOSThread()
	v.osTID.Store(int32(unix.Gettid()))
	if err := v.primeSync(); err != nil {
		v.vm.log.Error("cannot read initial VCPU registers", "vcpu", v.id, "err", err)
	}
	s := v.vm.sched
	for {
		t := s.pick(v)
		if t == nil {
			break
		}
		if v.pcpu < 0 {
			v.acquirePCPU()
		}
		t.signalsAtResume()
		if err := v.switchIn(t); err != nil {
			// ThreadIn was not called, so no ThreadOut either.
			v.crash(t, &GuestCrash{Kind: CrashInternal, Detail: "load thread context: " + err.Error()})
			s.afterOut(v, t, SwitchExited)
			continue
		}
		reason, inThread := v.runThread(t)
		v.switchOut(t, reason, inThread)
		s.afterOut(v, t, reason)
	}
	if v.pcpu >= 0 {
		v.releasePCPU()
	}
}

// primeSync fills kvm_run's sync area with the current registers, so that
// it is valid before the first exit.
func (v *vcpu) primeSync() error {
	regs, err := v.k.Regs()
	if err != nil {
		return err
	}
	sregs, err := v.k.Sregs()
	if err != nil {
		return err
	}
	v.run.Sync.Regs, v.run.Sync.Sregs = regs, sregs
	return nil
}

// requestKick asks the VCPU to stop at its next safe point for reason.
// Any goroutine may call it.
func (v *vcpu) requestKick(reason uint32) {
	v.kick.Or(reason)
	v.k.RequestImmediateExit(true)
	if v.inGuest.Load() {
		if tid := int(v.osTID.Load()); tid > 0 {
			unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
		}
	}
	v.vm.stats.kicks.Add(1)
}

// setRegs makes regs the VCPU's registers at the next entry.
func (v *vcpu) setRegs(regs *kvm.Regs) {
	v.wantRegs = *regs
	v.run.Sync.Regs = *regs
	v.run.DirtyRegs |= kvm.SyncRegsGPR
	if v.pmu != nil {
		v.pmu.stepPrev = regs.RIP
	}
}

// setSregs makes sregs the VCPU's special registers at the next entry.
func (v *vcpu) setSregs(sregs *kvm.Sregs) {
	v.wantSregs = *sregs
	v.run.Sync.Sregs = *sregs
	v.run.DirtyRegs |= kvm.SyncRegsSregs
}

// afterRun repairs the sync area after KVM_RUN: kernels before 5.13
// return from an immediate exit without loading dirty registers but
// after overwriting the sync area with the VCPU's own.
func (v *vcpu) afterRun() {
	d := v.run.DirtyRegs
	if d&kvm.SyncRegsGPR != 0 {
		v.run.Sync.Regs = v.wantRegs
	}
	if d&kvm.SyncRegsSregs != 0 {
		v.run.Sync.Sregs = v.wantSregs
	}
}

// switchIn loads t onto the VCPU: registers, FS/GS bases and user
// segments through the sync area, and the FPU state unless the VCPU
// still holds it. Then it calls ThreadIn.
func (v *vcpu) switchIn(t *Thread) error {
	v.setRegs(&t.ctx.regs)
	s := v.run.Sync.Sregs
	if s.FS.Base != t.ctx.fsBase || s.GS.Base != t.ctx.gsBase || s.CS.Selector != selUserCS || s.SS.Selector != selUserDS {
		s.FS.Base, s.GS.Base = t.ctx.fsBase, t.ctx.gsBase
		userSegments(&s)
		v.setSregs(&s)
	}
	if v.loaded != t || v.loadedGen != t.ctx.fpuGen {
		fpu := t.ctx.fpu
		if fpu == nil {
			fpu = v.vm.m.initFPU
		}
		if err := v.k.SetXSave(fpu); err != nil {
			return err
		}
		v.loaded, v.loadedGen = t, t.ctx.fpuGen
	}
	v.vm.stats.threadSwitches.Add(1)
	v.pmuThreadIn(t)
	v.vm.hooks.ThreadIn(t.tid, v.id)
	return nil
}

// switchOut saves t's context (unless it exited) and calls ThreadOut.
// inThread says the context is already in t.ctx (a system call left it
// there); otherwise it is read from the VCPU, which must be at a safe
// point.
func (v *vcpu) switchOut(t *Thread, reason SwitchReason, inThread bool) {
	if reason != SwitchExited {
		if !inThread {
			regs, ok := v.userRegs()
			if !ok {
				// runThread only leaves at safe points; never lose the
				// thread silently.
				v.vm.log.Error("thread switched out outside a safe point", "tid", t.tid, "rip", v.run.Sync.Regs.RIP)
			}
			t.ctx.regs = regs
			t.ctx.fsBase, t.ctx.gsBase = v.run.Sync.Sregs.FS.Base, v.run.Sync.Sregs.GS.Base
		}
		if t.ctx.fpu == nil {
			t.ctx.fpu = make([]byte, v.vm.m.xsaveSize)
		}
		if err := v.k.XSave(t.ctx.fpu, v.vm.m.xsave2); err != nil {
			v.vm.log.Error("cannot save FPU state", "tid", t.tid, "err", err)
		}
		t.ctx.fpuGen++
		v.loaded, v.loadedGen = t, t.ctx.fpuGen
	}
	v.pmuThreadOut(t, reason)
	v.vm.hooks.ThreadOut(t.tid, v.id, reason)
}

// userRegs returns the current thread's user-mode registers from the
// VCPU. ok is false when the VCPU is inside a VMM stub, where the
// thread's context cannot be moved (not a safe point). On hardware KVM,
// a VCPU returning from a system call through the stub's sysretq, before
// or after KVM completed the stub's out, is converted as the sysretq
// would do it.
func (v *vcpu) userRegs() (kvm.Regs, bool) {
	regs := v.run.Sync.Regs
	cpl := v.run.Sync.Sregs.CS.Selector & 3
	switch {
	case cpl == 3 && (regs.RIP < vmmBase || regs.RIP >= vmmEnd):
		return regs, true
	case cpl == 0 && (regs.RIP == syscallStubGVA+syscallStubOutLen || regs.RIP == syscallStubGVA && v.sysretPending):
		regs.RIP, regs.RFLAGS = regs.RCX, sysretFlags(regs.R11)
		return regs, true
	default:
		return regs, false
	}
}

// sysretFlags is the RFLAGS sysretq restores from R11 (RF and VM
// cleared, bit 1 set), with IF forced on as for any user context.
func sysretFlags(r11 uint64) uint64 { return r11&0x3c7fd7 | rflagsReserved | rflagsIF }
