package pmu

// VirtualEvent numbers the events that only the vpmu hypervisor counts
// (Kind == KindVirtual; Event.Config holds the number). They are exact
// tallies kept by the VMM.
type VirtualEvent uint64

const (
	// VirtSyscalls counts system calls the guest thread made.
	VirtSyscalls VirtualEvent = iota + 1
	// VirtVMExits counts VM exits taken while the guest thread ran.
	VirtVMExits
	// VirtVMExitsIO counts VM exits for port I/O (the syscall path).
	VirtVMExitsIO
	// VirtVMExitsMMIO counts VM exits for MMIO.
	VirtVMExitsMMIO
	// VirtVMExitsException counts exits for guest exceptions (page
	// faults, #GP, #DB, ...).
	VirtVMExitsException
	// VirtVMExitsInterrupt counts exits forced by the VMM (time-slice
	// kicks, signals to the VCPU thread).
	VirtVMExitsInterrupt
	// VirtSignals counts signals delivered to the guest thread.
	VirtSignals
	// VirtPVCalls counts paravirtual vPMU calls made by the guest thread.
	VirtPVCalls
)

// virtualEvents maps names to numbers; the catalog lists them.
var virtualEvents = []struct {
	Name string
	Num  VirtualEvent
	Desc string
}{
	{"syscalls", VirtSyscalls, "system calls made by the guest thread (exact VMM tally)"},
	{"vm-exits", VirtVMExits, "VM exits while the guest thread ran (exact VMM tally)"},
	{"vm-exits-io", VirtVMExitsIO, "VM exits for port I/O"},
	{"vm-exits-mmio", VirtVMExitsMMIO, "VM exits for MMIO"},
	{"vm-exits-exception", VirtVMExitsException, "VM exits for guest exceptions"},
	{"vm-exits-interrupt", VirtVMExitsInterrupt, "VM exits forced by the VMM (kicks, signals)"},
	{"signals", VirtSignals, "signals delivered to the guest thread"},
	{"pv-calls", VirtPVCalls, "paravirtual vPMU calls made by the guest thread"},
}

// String returns the event's name.
func (v VirtualEvent) String() string {
	for _, e := range virtualEvents {
		if e.Num == v {
			return e.Name
		}
	}
	return "virtual-event-unknown"
}
