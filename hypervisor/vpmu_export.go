package hypervisor

// What the Prometheus exporter (exporters.VMTarget) reads besides
// VPMU.Counts: the VMM's own tallies of KVM_RUN returns per VCPU, which
// the VCPU pages keep whatever VPMUConfig.Spec counts, and how many
// threads the program has. Both are cheap, take no lock a VCPU waits for
// on its exit path, and are safe to call while the VM runs.

// VCPUExits is what KVM_RUN returned with on one VCPU since the VM
// started (the calibration's round trips are not counted), by kind. The
// kinds are those of the vm-exits-* events (docs/vpmu.md); Total also
// counts exits of no listed kind (HLT, shutdown and other exits that end
// a run with a crash), so Total >= IO+MMIO+Exception+Interrupt.
type VCPUExits struct {
	VCPU int
	// Total counts every return from KVM_RUN, interrupted ones included.
	Total uint64
	// IO counts port I/O exits: the system-call port (every guest system
	// call) and any other port.
	IO uint64
	// MMIO counts MMIO exits.
	MMIO uint64
	// Exception counts exits through the exception stubs (faults,
	// single-step traps) and KVM_EXIT_DEBUG.
	Exception uint64
	// Interrupt counts KVM_RUN calls interrupted (EINTR) by a signal to
	// the VCPU's thread: scheduler kicks.
	Interrupt uint64
}

// VCPUExits returns every VCPU's exit tallies, in VCPU order. The
// values of one VCPU are read one by one while the VCPU runs, so their
// sum may be a few exits off Total; each value alone never decreases.
func (u *VPMU) VCPUExits() []VCPUExits {
	p := u.p
	out := make([]VCPUExits, len(p.vcpuPages))
	for id := range out {
		out[id] = VCPUExits{
			VCPU:      id,
			Total:     p.vcpuValue(id, srcExits),
			IO:        p.vcpuValue(id, srcExitsIO),
			MMIO:      p.vcpuValue(id, srcExitsMMIO),
			Exception: p.vcpuValue(id, srcExitsException),
			Interrupt: p.vcpuValue(id, srcExitsInterrupt),
		}
	}
	return out
}

// Threads returns how many threads the program has now (created and not
// yet gone) and how many it ever had, its first thread included. Both
// are 0 before Run has loaded the program; once the program has ended,
// live is 0.
func (u *VPMU) Threads() (live, created int) {
	p := u.p
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live, p.created
}
