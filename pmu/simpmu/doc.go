// Package simpmu is a simulated PMU: a pmu.Source whose event stream is
// whatever the test says it is, so that counts can be checked exactly.
//
// It sits at the bottom of the guest-thread -> VCPU -> PCPU -> counter
// picture, in place of real hardware: a Sim has CPUs, each with a number of
// general-purpose counters of a fixed width, and tasks that the test
// schedules on and off the CPUs. The test drives the event stream
// explicitly: Step and Advance deliver event occurrences on a CPU, SetRate
// and Elapse let simulated time produce them, Tick rotates multiplexed
// events the way the kernel's perf_event_mux_interval_ms timer does.
// Counters opened on a task count only while it runs and they are enabled;
// when more events are enabled than there are counters, groups take turns
// and each event's enabled and running times say how long it was
// scheduled, so pmu.Value.Scaled can be checked against the ground truth
// that Sim.TaskTruth and Sim.CPUTruth keep.
//
// The raw physical counters are visible through ReadPhys: they wrap at the
// configured width (with an overflow callback) and are never rewritten by
// the simulator, which is what the virtual-PMU algebra built on top of
// physical counters needs. Everything is deterministic: the only
// randomness is the initial counter values, drawn from Config.Seed.
package simpmu
