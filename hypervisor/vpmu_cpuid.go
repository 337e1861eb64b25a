package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/pmu/virt"
)

// CPUID leaves of the hypervisor range (Intel SDM: 0x40000000-0x4fffffff
// are reserved for hypervisors). Where CPUID is trapped (VMX/SVM) guest
// code finds the vpmu VMM there; PVM runs CPUID natively and shows the
// host CPU, so guests probe the paravirtual call instead (guestlib.InVM).
const (
	cpuidHypervisor = 0x40000000
	cpuidVPMU       = 0x40000001
	// cpuidSignature is the hypervisor signature in EBX, ECX, EDX.
	cpuidSignature = "vpmuvpmuvpmu"
)

// vpmuCPUID returns ents with leaves 0x40000000 and 0x40000001 replaced
// by vpmu's: the signature and the highest hypervisor leaf, then the
// paravirtual system-call number in EAX and the ABI version in EBX (0
// when the virtual PMU is off). KVM's own leaves there describe a
// paravirtual clock and features that a guest without a kernel cannot
// use.
func vpmuCPUID(ents []kvm.CPUIDEntry, on bool) []kvm.CPUIDEntry {
	out := make([]kvm.CPUIDEntry, 0, len(ents)+2)
	for _, e := range ents {
		if e.Function != cpuidHypervisor && e.Function != cpuidVPMU {
			out = append(out, e)
		}
	}
	sig := []byte(cpuidSignature)
	le := binary.LittleEndian
	out = append(out, kvm.CPUIDEntry{Function: cpuidHypervisor, EAX: cpuidVPMU,
		EBX: le.Uint32(sig[0:]), ECX: le.Uint32(sig[4:]), EDX: le.Uint32(sig[8:])})
	leaf := kvm.CPUIDEntry{Function: cpuidVPMU}
	if on {
		leaf.EAX, leaf.EBX = virt.PVSyscall, virt.ABIVersion
	}
	return append(out, leaf)
}
