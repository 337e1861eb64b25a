package pmu

// builtin is one generic event that every Linux kernel defines, named the
// way perf names it. names[0] is the canonical name, the rest are aliases.
type builtin struct {
	names  []string
	kind   Kind
	config uint64
	unit   string
	desc   string
}

// hardwareEvents are the generic hardware events (PERF_TYPE_HARDWARE). The
// kernel maps each to a CPU-specific event; on a machine without a core
// PMU opening them fails with ENOENT.
var hardwareEvents = []builtin{
	{[]string{"cpu-cycles", "cycles"}, KindHardware, perfCountHWCPUCycles, "", "CPU core cycles (frequency dependent)"},
	{[]string{"instructions"}, KindHardware, perfCountHWInstructions, "", "instructions retired"},
	{[]string{"cache-references"}, KindHardware, perfCountHWCacheReferences, "", "cache accesses, usually of the last level cache"},
	{[]string{"cache-misses"}, KindHardware, perfCountHWCacheMisses, "", "cache misses, usually of the last level cache"},
	{[]string{"branch-instructions", "branches"}, KindHardware, perfCountHWBranchInstructions, "", "branch instructions retired"},
	{[]string{"branch-misses"}, KindHardware, perfCountHWBranchMisses, "", "mispredicted branch instructions"},
	{[]string{"bus-cycles"}, KindHardware, perfCountHWBusCycles, "", "bus cycles"},
	{[]string{"stalled-cycles-frontend", "idle-cycles-frontend"}, KindHardware, perfCountHWStalledCyclesFrontend, "", "cycles stalled in the front end (instruction fetch)"},
	{[]string{"stalled-cycles-backend", "idle-cycles-backend"}, KindHardware, perfCountHWStalledCyclesBackend, "", "cycles stalled in the back end (execution)"},
	{[]string{"ref-cycles"}, KindHardware, perfCountHWRefCPUCycles, "", "reference cycles at a constant rate (not scaled by frequency)"},
}

// softwareEvents are the kernel software events (PERF_TYPE_SOFTWARE). They
// need no PMU hardware.
var softwareEvents = []builtin{
	{[]string{"cpu-clock"}, KindSoftware, perfCountSWCPUClock, "ns", "CPU clock time of the target, per CPU timer"},
	{[]string{"task-clock"}, KindSoftware, perfCountSWTaskClock, "ns", "time the task ran on a CPU"},
	{[]string{"page-faults", "faults"}, KindSoftware, perfCountSWPageFaults, "", "page faults"},
	{[]string{"context-switches", "cs"}, KindSoftware, perfCountSWContextSwitches, "", "context switches"},
	{[]string{"cpu-migrations", "migrations"}, KindSoftware, perfCountSWCPUMigrations, "", "migrations of the task to another CPU"},
	{[]string{"minor-faults"}, KindSoftware, perfCountSWPageFaultsMin, "", "page faults served without I/O"},
	{[]string{"major-faults"}, KindSoftware, perfCountSWPageFaultsMaj, "", "page faults that needed I/O"},
	{[]string{"alignment-faults"}, KindSoftware, perfCountSWAlignmentFaults, "", "unaligned accesses fixed up by the kernel"},
	{[]string{"emulation-faults"}, KindSoftware, perfCountSWEmulationFaults, "", "instructions emulated by the kernel"},
	{[]string{"dummy"}, KindSoftware, perfCountSWDummy, "", "placeholder event that counts nothing"},
	{[]string{"bpf-output"}, KindSoftware, perfCountSWBPFOutput, "", "output channel of BPF programs"},
	{[]string{"cgroup-switches"}, KindSoftware, perfCountSWCgroupSwitches, "", "context switches to a task of another cgroup"},
}

// event returns the resolved Event of a builtin.
func (b builtin) event() Event {
	e := Event{Name: b.names[0], Kind: b.kind, Config: b.config, Unit: b.unit}
	switch b.kind {
	case KindHardware:
		e.Type = perfTypeHardware
	case KindSoftware:
		e.Type = perfTypeSoftware
	}
	return e
}

// virtualEvent returns the resolved Event of a vpmu hypervisor event: Type
// 0 and Config = the VirtualEvent number, told apart from
// PERF_TYPE_HARDWARE by Kind.
func virtualEvent(name string, v VirtualEvent) Event {
	return Event{Name: name, Kind: KindVirtual, Config: uint64(v)}
}

// builtinIndex maps every builtin name and alias (hardware, software,
// vpmu) to its entry. Names are matched exactly: perf does not accept
// "CYCLES" for "cycles".
type builtinIndex map[string]Entry

// newBuiltinIndex indexes the builtins and returns their entries.
func newBuiltinIndex() (builtinIndex, []Entry) {
	idx := make(builtinIndex)
	var entries []Entry
	add := func(e Entry) {
		idx[e.Name] = e
		for _, a := range e.Aliases {
			idx[a] = e
		}
		entries = append(entries, e)
	}
	for _, tab := range [][]builtin{hardwareEvents, softwareEvents} {
		for _, b := range tab {
			add(Entry{
				Name:        b.names[0],
				Aliases:     b.names[1:],
				Kind:        b.kind,
				Description: b.desc,
				Event:       b.event(),
			})
		}
	}
	for _, v := range virtualEvents {
		add(Entry{
			Name:        v.Name,
			Kind:        KindVirtual,
			Description: v.Desc,
			Event:       virtualEvent(v.Name, v.Num),
		})
	}
	return idx, entries
}
