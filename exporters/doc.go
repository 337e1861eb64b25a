// Package exporters turns counter readings into what people and programs
// read: perf-stat-like tables, perf-compatible CSV and JSON lines, and
// Prometheus metrics.
//
// It sits at the consumer end of the guest-thread -> VCPU -> PCPU ->
// counter picture: whatever source produced the counts (the Linux
// perf_event backend, the simulated PMU, the vpmu hypervisor's virtual
// PMU), a measurement is described by one [Report] whose rows carry a
// [pmu.Value] or the reason the event was not counted, optionally labeled
// by thread, VCPU or CPU. The same Report renders as a table
// ([Report.WriteTable]), as CSV ([Report.WriteCSV]) and as JSON lines
// ([Report.WriteJSON]); derived metrics such as "insn per cycle" and
// "CPUs utilized" are computed once, the way perf stat computes them, and
// shared by all three.
//
// For Prometheus, a [PromCollector] reads a set of [PromTarget]s on every
// scrape: the native targets here (a process, a cgroup, every CPU, counted
// with pmu/perfevent) and the vpmu hypervisor's VMs, VCPUs and guest
// threads. Targets return the same [Row]s as a Report; docs/metrics.md
// describes the metrics.
//
// An event that could not be counted is shown as "<not supported>" or
// "<not counted>" with its reason, never as 0.
package exporters
