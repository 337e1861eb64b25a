package pmu

import (
	"fmt"
	"strings"
)

// Kind says where an event comes from and how its configuration is
// interpreted.
type Kind uint8

const (
	// KindHardware is a generic hardware event (PERF_TYPE_HARDWARE):
	// cycles, instructions, branch-misses, ...
	KindHardware Kind = iota + 1
	// KindSoftware is a kernel software event (PERF_TYPE_SOFTWARE):
	// task-clock, page-faults, context-switches, ...
	KindSoftware
	// KindHWCache is a generic cache event (PERF_TYPE_HW_CACHE) such as
	// L1-dcache-load-misses.
	KindHWCache
	// KindRaw is a raw CPU event (PERF_TYPE_RAW) written rNNNN.
	KindRaw
	// KindPMU is an event of a PMU discovered in sysfs, written
	// pmu/term=value,.../ or by its sysfs alias.
	KindPMU
	// KindVirtual is an event counted by the vpmu hypervisor itself
	// (exact VMM tallies such as syscalls and vm-exits). It exists only
	// inside a vpmu VM.
	KindVirtual
)

// String returns the name perf list uses for the kind.
func (k Kind) String() string {
	switch k {
	case KindHardware:
		return "Hardware event"
	case KindSoftware:
		return "Software event"
	case KindHWCache:
		return "Hardware cache event"
	case KindRaw:
		return "Raw hardware event descriptor"
	case KindPMU:
		return "Kernel PMU event"
	case KindVirtual:
		return "vpmu hypervisor event"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Exclude is the set of privilege domains an event does not count. The
// zero value counts everything, as perf does for an event written without
// modifiers.
type Exclude uint8

const (
	ExcludeUser   Exclude = 1 << iota // not counted in user mode
	ExcludeKernel                     // not counted in kernel mode
	ExcludeHV                         // not counted in the hypervisor
	ExcludeGuest                      // not counted while a guest runs (:H)
	ExcludeHost                       // not counted in the host (:G)
	ExcludeIdle                       // not counted while idle (:I, perf's exclude_idle; perf calls it "non idle counting")
)

// Event is one countable event, fully resolved: everything needed to open
// it is here, and nothing in it refers to a live kernel object.
type Event struct {
	// Name is the canonical event name without modifiers, as perf would
	// print it: "instructions", "L1-dcache-load-misses", "r01c2",
	// "cpu/event=0x3c,umask=0x0/".
	Name string
	// Modifiers is the modifier suffix as written (without the colon),
	// for example "u" or "uppp". Empty when none was given.
	Modifiers string

	Kind Kind
	// Type is the perf_event_attr.type: PERF_TYPE_* for the generic
	// kinds, the dynamic type from sysfs for KindPMU, and 0 for
	// KindVirtual.
	Type uint32
	// Config, Config1 and Config2 are perf_event_attr.config,
	// config1 and config2. For KindVirtual, Config is the
	// VirtualEvent number.
	Config, Config1, Config2 uint64

	// PMU is the sysfs PMU name for KindPMU ("cpu", "msr", ...).
	PMU string

	Exclude Exclude
	// Precise is perf_event_attr.precise_ip (0-3, from repeated :p).
	Precise uint8
	// PreciseMax asks for the highest precise_ip the PMU supports (:P);
	// the source lowers Precise until the event opens.
	PreciseMax bool
	// Pinned asks for the event (group) to be pinned on the PMU (:D).
	Pinned bool

	// Unit and Scale come from sysfs (events/NAME.unit and .scale); the
	// displayed value is raw*Scale. Scale 0 means 1.
	Unit  string
	Scale float64
}

// String returns the event as a user would write it: name plus modifiers.
func (e Event) String() string {
	if e.Modifiers == "" {
		return e.Name
	}
	return e.Name + ":" + e.Modifiers
}

// Group is a set of events that are scheduled onto the counters together,
// written {a,b,c} in a spec. Events[0] is the group leader. A single event
// outside braces is a group of one.
type Group struct {
	Events []Event
	// Explicit reports whether the group was written with braces.
	Explicit bool
}

// String formats the group the way it would be written in a spec.
func (g Group) String() string {
	names := make([]string, len(g.Events))
	for i, e := range g.Events {
		names[i] = e.String()
	}
	s := strings.Join(names, ",")
	if g.Explicit {
		return "{" + s + "}"
	}
	return s
}

// Spec is a parsed event list: the groups in the order they were written.
type Spec struct {
	Groups []Group
}

// Events returns every event of the spec in order.
func (s Spec) Events() []Event {
	var out []Event
	for _, g := range s.Groups {
		out = append(out, g.Events...)
	}
	return out
}

// String formats the spec so that parsing it again gives the same spec.
func (s Spec) String() string {
	parts := make([]string, len(s.Groups))
	for i, g := range s.Groups {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}
