package hypervisor

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// exitAction is what the VCPU loop does with a VM exit.
type exitAction int

const (
	actSyscall   exitAction = iota // the syscall stub exited: run the system call
	actException                   // an exception stub exited: handle the fault
	actRetry                       // nothing happened that needs handling; run again
	actCrash                       // the guest cannot continue
)

// exitDecision is classifyExit's verdict.
type exitDecision struct {
	action exitAction
	// kind and detail describe a crash.
	kind   CrashKind
	detail string
}

// classifyExit decides what a VM exit means. It is pure: the VMM's
// guest protocol is that guest code reaches the VMM only through the two
// stub ports, so every other exit is a crash with an explanation.
func classifyExit(e kvm.Exit) exitDecision {
	crash := func(kind CrashKind, format string, args ...any) exitDecision {
		return exitDecision{action: actCrash, kind: kind, detail: fmt.Sprintf(format, args...)}
	}
	switch e.Reason {
	case kvm.ExitIO:
		if e.IO.Direction == kvm.IODirOut && e.IO.Count == 1 {
			switch e.IO.Port {
			case portSyscall:
				return exitDecision{action: actSyscall}
			case portException:
				return exitDecision{action: actException}
			}
		}
		dir := "in"
		if e.IO.Direction == kvm.IODirOut {
			dir = "out"
		}
		return crash(CrashInternal, "unexpected port I/O: %s port %#x, size %d, count %d", dir, e.IO.Port, e.IO.Size, e.IO.Count)
	case kvm.ExitIntr:
		return exitDecision{action: actRetry}
	case kvm.ExitShutdown:
		return crash(CrashShutdown, "triple fault: an exception could not be delivered")
	case kvm.ExitFailEntry:
		return crash(CrashInternal, "VM entry failed: hardware reason %#x on host CPU %d",
			e.FailEntry.HardwareEntryFailureReason, e.FailEntry.CPU)
	case kvm.ExitInternalError:
		return crash(CrashInternal, "KVM internal error: %s (data %#x)", internalErrorName(e.Internal.Suberror), e.Internal.Data)
	case kvm.ExitMMIO:
		return crash(CrashInternal, "access to guest-physical %#x with no memory behind it (%d bytes, write %v)",
			e.MMIO.PhysAddr, e.MMIO.Len, e.MMIO.IsWrite)
	case kvm.ExitHLT:
		return crash(CrashInternal, "VCPU halted")
	case kvm.ExitSystemEvent:
		return crash(CrashInternal, "system event %d (data %#x)", e.SystemEvent.Type, e.SystemEvent.Data)
	case kvm.ExitDebug:
		return crash(CrashInternal, "unexpected debug exit: exception %d at %#x, dr6 %#x", e.Debug.Exception, e.Debug.PC, e.Debug.DR6)
	default:
		return crash(CrashInternal, "unexpected exit %v", e.Reason)
	}
}

func internalErrorName(sub uint32) string {
	switch sub {
	case kvm.InternalErrorEmulation:
		return "instruction emulation failed"
	case kvm.InternalErrorSimulEx:
		return "exception while delivering an exception"
	case kvm.InternalErrorDeliveryEv:
		return "exit while delivering an event"
	case kvm.InternalErrorUnexpectedExit:
		return "unexpected exit reason"
	default:
		return fmt.Sprintf("suberror %d", sub)
	}
}

// excFrame is the exception frame the stubs leave on the IST stack.
type excFrame struct {
	vector, errorCode uint64
	rip, cs, rflags   uint64
	rsp, ss           uint64
}

// decodeExcFrame reads an excFrameSize-byte frame (lowest address first).
func decodeExcFrame(b []byte) excFrame {
	le := binary.LittleEndian
	return excFrame{
		vector: le.Uint64(b[0:]), errorCode: le.Uint64(b[8:]),
		rip: le.Uint64(b[16:]), cs: le.Uint64(b[24:]), rflags: le.Uint64(b[32:]),
		rsp: le.Uint64(b[40:]), ss: le.Uint64(b[48:]),
	}
}

// faultSignal is the signal Linux sends for an exception in user mode
// (arch/x86/kernel/traps.c).
func faultSignal(vector int) syscall.Signal {
	switch vector {
	case vecDE, vecMF, vecXM:
		return unix.SIGFPE
	case vecDB, vecBP:
		return unix.SIGTRAP
	case vecUD:
		return unix.SIGILL
	case vecAC, vecNP, vecSS:
		return unix.SIGBUS
	default: // #PF, #GP, #OF, #BR, #TS, ...
		return unix.SIGSEGV
	}
}
