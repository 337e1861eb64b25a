// Package cli is the vpmu command line: it parses each subcommand's
// flags (perf-style: -e SPEC, -x SEP, --json, -o FILE, -p PID, -- CMD),
// drives the event catalog and a counter source, and prints the result
// through package exporters.
//
// It sits above the whole guest-thread -> VCPU -> PCPU -> counter
// picture: a pmu.Source (the Linux perf_event backend today, the vpmu
// hypervisor's virtual PMU with --vm later) produces the counts, and
// cli turns a command line into opened counters and a report.
//
// Everything the commands touch outside their own memory goes through
// [Env], so the commands run in-process in tests with a fake catalog and
// source; [Main] uses [DefaultEnv], the real ones.
package cli
