package kvm

import (
	"bufio"
	"io"
	"os"
	"strings"
)

// HostKind says how the host implements KVM, which changes what guest
// ring-0 code and SYSCALL cost and do (see docs/hypervisor.md).
type HostKind int

const (
	// HostUnknown: /dev/kvm works but the kind could not be told.
	HostUnknown HostKind = iota
	// HostVMX is KVM on Intel VT-x.
	HostVMX
	// HostSVM is KVM on AMD-V.
	HostSVM
	// HostPVM is KVM without hardware virtualization (PVM: shadow paging,
	// guest ring 0 emulated, SYSCALL keeps CPL 3).
	HostPVM
)

func (k HostKind) String() string {
	switch k {
	case HostVMX:
		return "vmx"
	case HostSVM:
		return "svm"
	case HostPVM:
		return "pvm"
	default:
		return "unknown"
	}
}

// MSRPVMLinearAddressRange is the PVM paravirtual MSR that tells a PVM
// guest which upper-half address range it owns. Only PVM answers it.
const MSRPVMLinearAddressRange = 0x4b564df0

// HostInfo is what start-up detection found.
type HostInfo struct {
	Kind HostKind
	// Reason says how Kind was decided, for logs and error messages.
	Reason string
	// PVMRange is MSRPVMLinearAddressRange's value on PVM hosts.
	PVMRange uint64
}

// ClassifyHost decides the host kind from the CPU flags of /proc/cpuinfo
// and whether the PVM MSR could be read. It is pure.
func ClassifyHost(flags []string, pvmMSR bool, pvmRange uint64) HostInfo {
	has := func(f string) bool {
		for _, x := range flags {
			if x == f {
				return true
			}
		}
		return false
	}
	switch {
	case pvmMSR:
		return HostInfo{Kind: HostPVM, Reason: "the PVM MSR 0x4b564df0 is readable", PVMRange: pvmRange}
	case has("vmx"):
		return HostInfo{Kind: HostVMX, Reason: "/proc/cpuinfo has the vmx flag"}
	case has("svm"):
		return HostInfo{Kind: HostSVM, Reason: "/proc/cpuinfo has the svm flag"}
	case len(flags) > 0:
		return HostInfo{Kind: HostPVM, Reason: "/proc/cpuinfo has neither vmx nor svm, so KVM is software (PVM)"}
	default:
		return HostInfo{Kind: HostUnknown, Reason: "no CPU flags found in /proc/cpuinfo"}
	}
}

// CPUFlags returns the flags line of the first processor in a
// /proc/cpuinfo-formatted text.
func CPUFlags(r io.Reader) []string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v)
		}
	}
	return nil
}

// DetectHost classifies the host, probing the PVM MSR on v (a VCPU that
// has not run yet).
func DetectHost(v *VCPU) HostInfo {
	var flags []string
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		flags = CPUFlags(f)
		f.Close()
	}
	ents, err := v.MSRs(MSRPVMLinearAddressRange)
	pvm := err == nil && len(ents) == 1
	var rng uint64
	if pvm {
		rng = ents[0].Data
	}
	return ClassifyHost(flags, pvm, rng)
}
