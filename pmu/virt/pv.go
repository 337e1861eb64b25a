package virt

// The paravirtual interface: a reserved system-call number that the vpmu
// hypervisor answers and Linux rejects with ENOSYS. A guest detects the
// hypervisor by calling PVProbe (CPUID is not trapped on PVM hosts, so a
// CPUID leaf cannot be relied on).
//
// Registers follow the Linux system-call convention: RAX = PVSyscall,
// RDI = operation, then RSI, RDX, R10, R8, R9; the result is in RAX, a
// negative errno on failure.
const (
	// PVSyscall is the reserved system-call number ("VPM").
	PVSyscall = 0x56504d

	// PVMagic is what PVProbe returns in the bits above the version:
	// RAX = PVMagic<<16 | ABIVersion.
	PVMagic = 0x76706d75 // "vpmu"
)

// PV operations (RDI).
const (
	// PVProbe returns PVMagic<<16 | ABIVersion.
	PVProbe = 0
	// PVOpen opens counters on the calling thread.
	//	RSI = spec (guest pointer to a perf-style event spec, not
	//	      NUL-terminated), RDX = spec length,
	//	R10 = flags (PVOpen*),
	//	R8  = guest pointer to an int32 array receiving the counter
	//	      slots, R9 = its capacity.
	// Slot order: for each group of the spec, first a time slot (guest
	// time of the thread while the group is enabled, in TSC ticks; the
	// group's enabled and running time), then one slot per event.
	// Returns the number of slots written.
	PVOpen = 1
	// PVRead reads counters through the VMM (the slow path).
	//	RSI = guest pointer to int32 slots, RDX = count,
	//	R10 = guest pointer to a uint64 array of count values,
	//	R8  = flags (PVReadInherited to add the counts of descendant
	//	      threads that inherited the counters).
	PVRead = 2
	// PVEnable, PVDisable and PVReset act on RDX slots listed at RSI.
	PVEnable  = 3
	PVDisable = 4
	PVReset   = 5
	// PVClose frees RDX slots listed at RSI.
	PVClose = 6
	// PVInfo returns the guest address of the calling thread's state
	// page (also the thread's GS base).
	PVInfo = 7
	// PVLastError copies the text of the calling thread's last PV error
	// into RSI (capacity RDX) and returns its length.
	PVLastError = 8
	// PVSetPeriod makes a counter sample with overflow signals: every
	// RDX events (nanoseconds for task-clock and cpu-clock) of counter
	// slot RSI, which must have been opened with PVOpenSignal, the VMM
	// sends the calling thread signal R10 (0: SIGPROF), with si_code
	// PVSignalCode and si_value = slot | overflows<<32. Period 0 stops
	// it.
	PVSetPeriod = 9
)

// PVSignalCode is the si_code of an overflow signal (PVSetPeriod).
const PVSignalCode = 0x564d

// PVOpen flags.
const (
	// PVOpenDisabled opens the counters disabled.
	PVOpenDisabled = 1 << 0
	// PVOpenInherit makes threads the caller creates afterwards get the
	// same counters, counted separately and summed by PVRead with
	// PVReadInherited.
	PVOpenInherit = 1 << 1
	// PVOpenSignal lets the counters sample with overflow signals once
	// PVSetPeriod gives them a period. (Flag 1<<2 is the vpmu
	// hypervisor's precise mode.)
	PVOpenSignal = 1 << 3
)

// PVRead flags.
const (
	PVReadInherited = 1 << 0
)
