package exporters

import (
	"fmt"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// Events as the pmu catalog resolves them.
func hwEvent(name string, config uint64) pmu.Event {
	return pmu.Event{Name: name, Kind: pmu.KindHardware, Type: 0, Config: config}
}

func swEvent(name string, config uint64) pmu.Event {
	return pmu.Event{Name: name, Kind: pmu.KindSoftware, Type: 1, Config: config}
}

func cacheEvent(name string, id, op, result uint64) pmu.Event {
	return pmu.Event{Name: name, Kind: pmu.KindHWCache, Type: 3, Config: id | op<<8 | result<<16}
}

var (
	evTaskClock   = swEvent("task-clock", 1)
	evCtxSwitches = swEvent("context-switches", 3)
	evMigrations  = swEvent("cpu-migrations", 4)
	evPageFaults  = swEvent("page-faults", 2)
	evCycles      = hwEvent("cycles", 0)
	evInsns       = hwEvent("instructions", 1)
	evCacheRefs   = hwEvent("cache-references", 2)
	evCacheMisses = hwEvent("cache-misses", 3)
	evBranches    = hwEvent("branches", 4)
	evBrMisses    = hwEvent("branch-misses", 5)
	evStallFront  = hwEvent("stalled-cycles-frontend", 7)
	evL1DLoads    = cacheEvent("L1-dcache-loads", 0, 0, 0)
	evL1DMisses   = cacheEvent("L1-dcache-load-misses", 0, 0, 1)
	evSyscalls    = pmu.Event{Name: "syscalls", Kind: pmu.KindVirtual, Config: uint64(pmu.VirtSyscalls)}
	evPMU         = pmu.Event{Name: "cpu/event=0x3c,umask=0x0/", Kind: pmu.KindPMU, Type: 4, Config: 0x3c, PMU: "cpu"}
	evEnergy      = pmu.Event{Name: "power/energy-pkg/", Kind: pmu.KindPMU, Type: 9, Config: 2, PMU: "power", Unit: "Joules", Scale: 2.3283064365386962890625e-10}
)

// full returns a reading that ran the whole time it was enabled.
func full(e pmu.Event, raw uint64, d time.Duration) pmu.Value {
	return pmu.Value{Event: e, Raw: raw, Enabled: d, Running: d}
}

// muxed returns a reading that ran for pct percent of d.
func muxed(e pmu.Event, raw uint64, d time.Duration, pct int) pmu.Value {
	return pmu.Value{Event: e, Raw: raw, Enabled: d, Running: d * time.Duration(pct) / 100}
}

func noPMU(e pmu.Event) Row {
	return Row{Value: pmu.Value{Event: e}, Err: &pmu.NotSupportedError{Event: e.String(), Reason: pmu.ReasonNoHardwarePMU, Err: syscall.ENOENT}}
}

// reportDefault is vpmu stat's default event set on a machine without a
// hardware PMU, like this project's.
func reportDefault() *Report {
	const tc = 1318046 * time.Nanosecond
	return &Report{
		Target: Target{Command: []string{"sleep", "0.1"}},
		Rows: []Row{
			{Value: full(evTaskClock, uint64(tc), tc)},
			{Value: full(evCtxSwitches, 2, tc)},
			{Value: full(evMigrations, 0, tc)},
			{Value: full(evPageFaults, 76, tc)},
			noPMU(evCycles),
			noPMU(evInsns),
			noPMU(evBranches),
			noPMU(evBrMisses),
		},
		Elapsed: 103152025 * time.Nanosecond,
		Usage:   &Usage{User: 2787 * time.Microsecond, Sys: 0},
		Exit:    &ExitStatus{Code: 0},
	}
}

// reportHardware is a run on a host with a PMU: every metric, a
// multiplexed group, not-counted rows, a sysfs event with unit and scale,
// and a count beyond 2^53.
func reportHardware() *Report {
	const d = 2 * time.Second
	const tc = 1987654321 * time.Nanosecond
	return &Report{
		Target: Target{Command: []string{"./bench", "--size", "big"}},
		Rows: []Row{
			{Value: full(evTaskClock, uint64(tc), tc)},
			{Value: full(evCtxSwitches, 1234, d)},
			{Value: full(evPageFaults, 54321, d)},
			{Value: full(evCycles, 6_000_123_456, d)},
			{Value: muxed(evInsns, 4_500_000_000, d, 50)},
			{Value: full(evBranches, 1_800_000_000, d)},
			{Value: full(evBrMisses, 18_000_000, d)},
			{Value: muxed(evCacheRefs, 30_000_000, d, 75)},
			{Value: muxed(evCacheMisses, 3_000_000, d, 75)},
			{Value: full(evStallFront, 1_500_000_000, d)},
			{Value: full(evL1DLoads, 2_000_000_000, d)},
			{Value: full(evL1DMisses, 50_000_000, d)},
			{Event: "r01c2", Value: full(pmu.Event{Name: "r01c2", Kind: pmu.KindRaw, Type: 4, Config: 0x1c2}, 123_456_789, d)},
			{Value: full(evEnergy, 42_949_672_960, d)},
			{Event: "cycles:u", Value: pmu.Value{Event: pmu.Event{Name: "cycles", Modifiers: "u", Kind: pmu.KindHardware, Exclude: pmu.ExcludeKernel | pmu.ExcludeHV}, Enabled: d}},
			{Event: "instructions:u", Value: pmu.Value{Event: pmu.Event{Name: "instructions", Modifiers: "u", Kind: pmu.KindHardware, Config: 1, Exclude: pmu.ExcludeKernel | pmu.ExcludeHV}}, Err: fmt.Errorf("read counter: %w", syscall.EIO)},
		},
		Elapsed: 2001002003 * time.Nanosecond,
		Usage:   &Usage{User: 1900123 * time.Microsecond, Sys: 87456 * time.Microsecond},
		Exit:    &ExitStatus{Signal: syscall.SIGTERM},
	}
}

// reportThreads is a per-thread (and per-VCPU) split, as vpmu stat --vm
// --per-thread prints it.
func reportThreads() *Report {
	const d = 500 * time.Millisecond
	thread := func(tid int, comm string, vcpu int, tc time.Duration, sw, sys uint64, cycles Row) []Row {
		ls := append(ThreadLabels(tid, comm), VCPULabel(vcpu))
		cycles.Labels = ls
		return []Row{
			{Labels: ls, Value: full(evTaskClock, uint64(tc), tc)},
			{Labels: ls, Value: full(evCtxSwitches, sw, d)},
			{Labels: ls, Value: full(evSyscalls, sys, d)},
			cycles,
		}
	}
	var rows []Row
	rows = append(rows, thread(101, "worker", 0, 250*time.Millisecond, 40, 1000, noPMU(evCycles))...)
	rows = append(rows, thread(102, "worker", 1, 125*time.Millisecond, 7, 20000, noPMU(evCycles))...)
	rows = append(rows, thread(103, "main", 0, 3*time.Millisecond, 2, 12, Row{Value: full(evCycles, 9_000_000, d)})...)
	return &Report{
		Target:  Target{Desc: "'./app -j2' in the vpmu VM"},
		Rows:    rows,
		Elapsed: 510 * time.Millisecond,
		Usage:   &Usage{User: 380 * time.Millisecond, Sys: 20 * time.Millisecond},
		Exit:    &ExitStatus{Code: 3},
	}
}

// reportAttached is vpmu stat -p: no rusage, no exit status, a sysfs
// event whose name contains the CSV separator, and a row that never ran.
func reportAttached() *Report {
	const d = 10 * time.Second
	return &Report{
		Target: Target{PID: 4242},
		Rows: []Row{
			{Value: full(evTaskClock, 12_500_000, d)},
			{Value: full(evCtxSwitches, 77, d)},
			{Value: pmu.Value{Event: evPMU, Enabled: d}},
			{Event: "syscalls", Value: pmu.Value{Event: evSyscalls}, Err: &pmu.NotSupportedError{Event: "syscalls", Reason: pmu.ReasonVirtualOnly}},
		},
		Elapsed: 10*time.Second + 250*time.Microsecond,
	}
}

var fixtures = []struct {
	name   string
	report func() *Report
}{
	{"default", reportDefault},
	{"hardware", reportHardware},
	{"threads", reportThreads},
	{"attached", reportAttached},
}
