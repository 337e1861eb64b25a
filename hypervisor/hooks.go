package hypervisor

import "github.com/vpmu/vpmu/hypervisor/kvm"

// SwitchReason says why a guest thread left its VCPU.
type SwitchReason int

const (
	// SwitchPreempted: the thread's time slice ended and another thread
	// was waiting.
	SwitchPreempted SwitchReason = iota
	// SwitchBlocked: the thread made a system call that waits (futex,
	// sleep, a read with no data ...).
	SwitchBlocked
	// SwitchYield: the thread called sched_yield.
	SwitchYield
	// SwitchExited: the thread exited, or its process did.
	SwitchExited
)

func (r SwitchReason) String() string {
	switch r {
	case SwitchPreempted:
		return "preempted"
	case SwitchBlocked:
		return "blocked"
	case SwitchYield:
		return "yield"
	case SwitchExited:
		return "exited"
	default:
		return "unknown"
	}
}

// Hooks observe the VMM's two scheduling levels. The virtual PMU
// implements them to save and restore counter state at each switch.
//
// Guest threads (by TID) are multiplexed onto VCPUs (0..VCPUs-1), and
// VCPUs onto PCPU slots (0..PCPUs-1). The VMM guarantees, and
// hooks_test.go checks:
//
//   - VCPUIn(v, p) and VCPUOut(v, p) alternate for each VCPU; a PCPU slot
//     holds at most one VCPU, and a VCPU at most one slot.
//   - Migrate(v, from, to) comes only between VCPUOut(v, from) and the
//     VCPUIn(v, to) that follows it, when to != from.
//   - ThreadIn(t, v) and ThreadOut(t, v, reason) alternate for each thread
//     and for each VCPU; a thread is never on two VCPUs, and both are called
//     only while v holds a PCPU slot. A VCPU may be switched out of its
//     slot (VCPUOut) with a thread still on it; the thread then stays on
//     that VCPU until ThreadOut.
//   - BeforeRun(v) and AfterRun(v, exit) bracket every KVM_RUN, only while
//     a thread is on v; AfterRun gets kvm.ExitIntr when the run was
//     interrupted by a signal or immediate_exit.
//   - OnSyscall(t, v, nr) is called for every guest system call, before
//     the VMM handles it.
//
// All calls for one VCPU are made on that VCPU's own OS thread, in order,
// so a hook may call gettid to find it. Calls for different VCPUs run
// concurrently. Hooks must be fast, must not block, and must not call back
// into the VM.
type Hooks interface {
	VCPUIn(vcpu, pcpu int)
	VCPUOut(vcpu, pcpu int)
	Migrate(vcpu, from, to int)
	ThreadIn(tid, vcpu int)
	ThreadOut(tid, vcpu int, reason SwitchReason)
	BeforeRun(vcpu int)
	AfterRun(vcpu int, exit kvm.ExitReason)
	OnSyscall(tid, vcpu, nr int)
}

// NopHooks implements Hooks with methods that do nothing. Embed it to
// implement only some hooks.
type NopHooks struct{}

func (NopHooks) VCPUIn(vcpu, pcpu int)                        {}
func (NopHooks) VCPUOut(vcpu, pcpu int)                       {}
func (NopHooks) Migrate(vcpu, from, to int)                   {}
func (NopHooks) ThreadIn(tid, vcpu int)                       {}
func (NopHooks) ThreadOut(tid, vcpu int, reason SwitchReason) {}
func (NopHooks) BeforeRun(vcpu int)                           {}
func (NopHooks) AfterRun(vcpu int, exit kvm.ExitReason)       {}
func (NopHooks) OnSyscall(tid, vcpu, nr int)                  {}

// ThreadHooks is implemented by Hooks that also want to hear about guest
// threads being created and going away. ThreadCreated(parent, child,
// flags) comes when clone made child (parent 0 and flags 0 for the
// program's first thread), before child runs; ThreadExited(tid) once
// for every thread that was created, after its last ThreadOut. They are
// called on the creating or exiting thread's goroutine, not necessarily
// a VCPU's.
type ThreadHooks interface {
	ThreadCreated(parent, child int, flags uint64)
	ThreadExited(tid int)
}
