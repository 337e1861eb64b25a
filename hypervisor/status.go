package hypervisor

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// ExitStatus is how a guest program ended.
type ExitStatus struct {
	// Code is the exit_group/exit status (0-255) when Signal is 0.
	Code int
	// Signal is the signal that killed the program, or 0.
	Signal syscall.Signal
}

// Int returns the status as a shell reports it: Code, or 128+Signal.
func (s ExitStatus) Int() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("killed by signal %d (%v)", int(s.Signal), s.Signal)
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

// Errors returned by New and Run.
var (
	// ErrVMUsed is returned by a second Run on the same VM.
	ErrVMUsed = errors.New("VM already ran a program")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("VM closed")
)

// CrashKind classifies a GuestCrash.
type CrashKind int

const (
	// CrashFault: a guest instruction faulted (page fault, #GP, #UD ...)
	// and the fault became a fatal signal.
	CrashFault CrashKind = iota
	// CrashShutdown: the VCPU triple-faulted (KVM_EXIT_SHUTDOWN).
	CrashShutdown
	// CrashInternal: KVM could not run the guest (KVM_EXIT_INTERNAL_ERROR,
	// KVM_EXIT_FAIL_ENTRY, an unexpected exit, or a fault in VMM code).
	CrashInternal
)

func (k CrashKind) String() string {
	switch k {
	case CrashFault:
		return "fault"
	case CrashShutdown:
		return "shutdown (triple fault)"
	default:
		return "internal error"
	}
}

// GuestCrash is the error Run returns when the guest program died of a
// fault or the VCPU could not continue. The VMM itself stays healthy.
type GuestCrash struct {
	Kind CrashKind
	// TID is the guest thread that crashed; VCPU the VCPU it ran on.
	TID, VCPU int
	// Signal is the fatal signal (SIGSEGV for a page fault ...).
	Signal syscall.Signal
	// Vector and ErrorCode are the x86 exception, for CrashFault.
	Vector    int
	ErrorCode uint64
	// Addr is the faulting address (CR2) for page faults.
	Addr uint64
	// Regs are the guest thread's user registers at the fault.
	Regs kvm.Regs
	// Exit is the KVM exit that ended the run, for CrashShutdown and
	// CrashInternal.
	Exit kvm.Exit
	// Detail is a human explanation.
	Detail string
}

var vectorNames = [...]string{
	vecDE: "#DE divide error", vecDB: "#DB debug", vecNMI: "NMI", vecBP: "#BP breakpoint",
	vecOF: "#OF overflow", vecBR: "#BR bound range", vecUD: "#UD invalid opcode", vecNM: "#NM device not available",
	vecDF: "#DF double fault", 9: "coprocessor segment overrun", vecTS: "#TS invalid TSS", vecNP: "#NP segment not present",
	vecSS: "#SS stack fault", vecGP: "#GP general protection", vecPF: "#PF page fault", 15: "reserved",
	vecMF: "#MF x87 error", vecAC: "#AC alignment check", vecMC: "#MC machine check", vecXM: "#XM SIMD error",
	vecVE: "#VE virtualization", vecCP: "#CP control protection",
}

func vectorName(v int) string {
	if v >= 0 && v < len(vectorNames) && vectorNames[v] != "" {
		return vectorNames[v]
	}
	return fmt.Sprintf("vector %d", v)
}

func (c *GuestCrash) Error() string {
	var b strings.Builder
	switch c.Kind {
	case CrashFault:
		fmt.Fprintf(&b, "guest thread %d crashed: %v (%s", c.TID, c.Signal, vectorName(c.Vector))
		if c.Vector == vecPF {
			fmt.Fprintf(&b, " at address %#x, %s", c.Addr, pageFaultCause(c.ErrorCode))
		} else if vectorHasErrorCode(c.Vector) {
			fmt.Fprintf(&b, ", error code %#x", c.ErrorCode)
		}
		fmt.Fprintf(&b, ") at rip %#x", c.Regs.RIP)
	default:
		fmt.Fprintf(&b, "guest thread %d stopped: VCPU %d %s (%v)", c.TID, c.VCPU, c.Kind, c.Exit.Reason)
	}
	if c.Detail != "" {
		b.WriteString(": ")
		b.WriteString(c.Detail)
	}
	return b.String()
}

// RegisterDump formats Regs the way a crash report shows them.
func (c *GuestCrash) RegisterDump() string {
	r := c.Regs
	return fmt.Sprintf("rip %#016x rsp %#016x rflags %#x\n"+
		"rax %#016x rbx %#016x rcx %#016x rdx %#016x\n"+
		"rsi %#016x rdi %#016x rbp %#016x\n"+
		"r8  %#016x r9  %#016x r10 %#016x r11 %#016x\n"+
		"r12 %#016x r13 %#016x r14 %#016x r15 %#016x",
		r.RIP, r.RSP, r.RFLAGS, r.RAX, r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15)
}

// pageFaultCause explains a #PF error code.
func pageFaultCause(code uint64) string {
	var parts []string
	if code&1 == 0 {
		parts = append(parts, "page not present")
	} else {
		parts = append(parts, "protection violation")
	}
	switch {
	case code&16 != 0:
		parts = append(parts, "instruction fetch")
	case code&2 != 0:
		parts = append(parts, "write")
	default:
		parts = append(parts, "read")
	}
	if code&4 == 0 {
		parts = append(parts, "in supervisor mode")
	}
	return strings.Join(parts, ", ")
}
