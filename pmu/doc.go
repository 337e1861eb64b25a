// Package pmu defines what an event and a counter are in vpmu.
//
// It sits at the bottom of the guest-thread -> VCPU -> PCPU -> counter
// picture: whatever produces counts (the Linux perf_event interface, the
// simulated PMU used in tests, or the virtual PMU of the vpmu hypervisor)
// is a [Source], and whatever consumes them (the CLI, the exporters, the
// profiler) works with [Event], [Group] and [Value].
//
// An event spec is pure data: [ParseSpec] turns perf-style text such as
// "cycles:u,{instructions,branches},r01c2,cpu/event=0x3c/" into a [Spec]
// without touching the kernel. Only [Source.Open] makes it live.
//
// Events that cannot be counted are never reported as zero: opening them
// fails with a [*NotSupportedError] that carries the reason, and
// errors.Is(err, ErrNotSupported) holds.
package pmu
