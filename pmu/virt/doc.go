// Package virt is the virtual-counter algebra of vpmu: the two-level state
// of the paper "Perfctr-Xen: a framework for performance counter
// virtualization" (Nikolaev and Back, VEE 2011, equations 2-4), the layout
// of the state pages that carry it into the guest, and the lock-free
// algorithm that reads a logical counter from those pages without a trap.
//
// In the guest-thread -> VCPU -> PCPU -> counter picture, a physical
// counter (the TSC, a hardware PMC, or a tally the VMM keeps) runs on a
// PCPU. Each VCPU keeps, per counter source, a sum of what the source
// counted while the VCPU was in guest mode, and the physical value when it
// last entered guest mode:
//
//	Phys*(src) = VCPU.Sum[src] + (Phys(src) - VCPU.Start[src])   while in guest mode
//	Phys*(src) = VCPU.Sum[src]                                   otherwise
//
// Each guest thread keeps, per logical counter, a sum of what its counter
// source counted while the thread ran, and the value of Phys* when it was
// last switched in:
//
//	Logical = Thread.Sum + (Phys*(src) - Thread.Start)   while the thread runs
//	Logical = Thread.Sum                                 otherwise
//
// The VMM updates VCPU state when a VCPU enters or leaves guest mode (every
// KVM_RUN, and so every VCPU switch and migration), and thread state at
// every guest-thread switch. Both live in pages the guest can read but not
// write; each page has its own sequence count, odd while the VMM writes it,
// so a reader that raced with a switch retries (see [Read]).
//
// The package is pure: it has no KVM, no perf_event and no assembly. The
// hypervisor writes the pages through [VCPU] and [Thread]; guestlib reads
// them with a hand-tuned copy of [Read]; the property tests drive both with
// a simulated PMU and random schedules and check every logical count
// against ground truth.
package virt
