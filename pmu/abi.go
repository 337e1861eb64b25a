package pmu

// Numbers of the perf_event ABI that the pure event model needs. They mirror
// include/uapi/linux/perf_event.h (enum perf_type_id, enum perf_hw_id, enum
// perf_sw_ids, enum perf_hw_cache_id, enum perf_hw_cache_op_id and enum
// perf_hw_cache_op_result_id). They are defined here, not imported, because
// package pmu is pure: it must not import internal/unix or x/sys. The Linux
// backend (pmu/perfevent) copies Event.Type and Event.Config into
// perf_event_attr unchanged, so these values are ABI and must never change.

// perf_type_id: perf_event_attr.type of the generic kinds.
const (
	perfTypeHardware   = 0 // PERF_TYPE_HARDWARE
	perfTypeSoftware   = 1 // PERF_TYPE_SOFTWARE
	perfTypeTracepoint = 2 // PERF_TYPE_TRACEPOINT
	perfTypeHWCache    = 3 // PERF_TYPE_HW_CACHE
	perfTypeRaw        = 4 // PERF_TYPE_RAW
	perfTypeBreakpoint = 5 // PERF_TYPE_BREAKPOINT
)

// perf_hw_id: config of PERF_TYPE_HARDWARE events.
const (
	perfCountHWCPUCycles             = 0 // PERF_COUNT_HW_CPU_CYCLES
	perfCountHWInstructions          = 1 // PERF_COUNT_HW_INSTRUCTIONS
	perfCountHWCacheReferences       = 2 // PERF_COUNT_HW_CACHE_REFERENCES
	perfCountHWCacheMisses           = 3 // PERF_COUNT_HW_CACHE_MISSES
	perfCountHWBranchInstructions    = 4 // PERF_COUNT_HW_BRANCH_INSTRUCTIONS
	perfCountHWBranchMisses          = 5 // PERF_COUNT_HW_BRANCH_MISSES
	perfCountHWBusCycles             = 6 // PERF_COUNT_HW_BUS_CYCLES
	perfCountHWStalledCyclesFrontend = 7 // PERF_COUNT_HW_STALLED_CYCLES_FRONTEND
	perfCountHWStalledCyclesBackend  = 8 // PERF_COUNT_HW_STALLED_CYCLES_BACKEND
	perfCountHWRefCPUCycles          = 9 // PERF_COUNT_HW_REF_CPU_CYCLES
)

// perf_sw_ids: config of PERF_TYPE_SOFTWARE events.
const (
	perfCountSWCPUClock        = 0  // PERF_COUNT_SW_CPU_CLOCK
	perfCountSWTaskClock       = 1  // PERF_COUNT_SW_TASK_CLOCK
	perfCountSWPageFaults      = 2  // PERF_COUNT_SW_PAGE_FAULTS
	perfCountSWContextSwitches = 3  // PERF_COUNT_SW_CONTEXT_SWITCHES
	perfCountSWCPUMigrations   = 4  // PERF_COUNT_SW_CPU_MIGRATIONS
	perfCountSWPageFaultsMin   = 5  // PERF_COUNT_SW_PAGE_FAULTS_MIN
	perfCountSWPageFaultsMaj   = 6  // PERF_COUNT_SW_PAGE_FAULTS_MAJ
	perfCountSWAlignmentFaults = 7  // PERF_COUNT_SW_ALIGNMENT_FAULTS
	perfCountSWEmulationFaults = 8  // PERF_COUNT_SW_EMULATION_FAULTS
	perfCountSWDummy           = 9  // PERF_COUNT_SW_DUMMY
	perfCountSWBPFOutput       = 10 // PERF_COUNT_SW_BPF_OUTPUT
	perfCountSWCgroupSwitches  = 11 // PERF_COUNT_SW_CGROUP_SWITCHES
)

// perf_hw_cache_id, perf_hw_cache_op_id and perf_hw_cache_op_result_id:
// a PERF_TYPE_HW_CACHE config is id | op<<8 | result<<16.
const (
	perfCountHWCacheL1D  = 0 // PERF_COUNT_HW_CACHE_L1D
	perfCountHWCacheL1I  = 1 // PERF_COUNT_HW_CACHE_L1I
	perfCountHWCacheLL   = 2 // PERF_COUNT_HW_CACHE_LL
	perfCountHWCacheDTLB = 3 // PERF_COUNT_HW_CACHE_DTLB
	perfCountHWCacheITLB = 4 // PERF_COUNT_HW_CACHE_ITLB
	perfCountHWCacheBPU  = 5 // PERF_COUNT_HW_CACHE_BPU
	perfCountHWCacheNode = 6 // PERF_COUNT_HW_CACHE_NODE

	perfCountHWCacheOpRead     = 0 // PERF_COUNT_HW_CACHE_OP_READ
	perfCountHWCacheOpWrite    = 1 // PERF_COUNT_HW_CACHE_OP_WRITE
	perfCountHWCacheOpPrefetch = 2 // PERF_COUNT_HW_CACHE_OP_PREFETCH

	perfCountHWCacheResultAccess = 0 // PERF_COUNT_HW_CACHE_RESULT_ACCESS
	perfCountHWCacheResultMiss   = 1 // PERF_COUNT_HW_CACHE_RESULT_MISS
)

// cacheConfig builds a PERF_TYPE_HW_CACHE config.
func cacheConfig(id, op, result uint64) uint64 { return id | op<<8 | result<<16 }
