package hypervisor

import (
	"fmt"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// Source slots of every VCPU state page. The same index means the same
// counter source on every VCPU, so a thread's counter keeps its source
// when the thread moves between VCPUs.
const (
	// srcTime is the TSC while the VCPU is in guest mode (SourceTSC):
	// guest time, behind task-clock, cpu-clock, ref-cycles and the time
	// slot of every group.
	srcTime = iota
	// VMM tallies (SourceVMM): the VMM adds to them during the exit in
	// which the event happens, with the thread still on the VCPU.
	srcSyscalls
	srcExits
	srcExitsIO
	srcExitsMMIO
	srcExitsException
	srcExitsInterrupt
	srcSignals
	srcPVCalls
	srcContextSwitches
	srcMigrations
	srcPageFaults
	// Precise mode (SourceVMM): instructions and branches of guest
	// program code counted by single-stepping.
	srcInstructions
	srcBranches
	// srcHostFirst is the first source slot for guest-only host
	// perf_event counters (SourceHost), allocated as events ask for
	// them.
	srcHostFirst
)

// perf_event ABI numbers of the generic events the VM maps onto its own
// sources (include/uapi/linux/perf_event.h).
const (
	perfHWInstructions = 1 // PERF_COUNT_HW_INSTRUCTIONS
	perfHWBranches     = 4 // PERF_COUNT_HW_BRANCH_INSTRUCTIONS
	perfHWRefCycles    = 9 // PERF_COUNT_HW_REF_CPU_CYCLES

	perfSWCPUClock        = 0 // PERF_COUNT_SW_CPU_CLOCK
	perfSWTaskClock       = 1 // PERF_COUNT_SW_TASK_CLOCK
	perfSWPageFaults      = 2 // PERF_COUNT_SW_PAGE_FAULTS
	perfSWContextSwitches = 3 // PERF_COUNT_SW_CONTEXT_SWITCHES
	perfSWCPUMigrations   = 4 // PERF_COUNT_SW_CPU_MIGRATIONS
	perfSWPageFaultsMin   = 5 // PERF_COUNT_SW_PAGE_FAULTS_MIN
	perfSWPageFaultsMaj   = 6 // PERF_COUNT_SW_PAGE_FAULTS_MAJ
)

// Reasons an event cannot be counted inside the VM.
const (
	reasonKernelOnly = "guest code runs only in user mode (there is no guest kernel), so an event that excludes user mode counts nothing in the vpmu VM"
	reasonHostOnly   = "the event excludes the guest (:H): inside the vpmu VM it counts nothing"
	reasonNoSource   = "the vpmu VM has no source for this software event"
	reasonFaultKind  = "the VMM handles guest page faults without telling minor from major; count page-faults"
	reasonPrecise    = "; instructions and branches can be counted exactly in precise mode (single-stepping, slow)"
)

// binding says where a logical counter of an event gets its counts.
type binding struct {
	// src is the VCPU source slot.
	src int
	// ns marks events shown in nanoseconds (task-clock, cpu-clock): the
	// source counts TSC ticks, which readers convert with the VCPU
	// page's scale.
	ns bool
	// precise marks counters that make their thread single-step while
	// they are enabled.
	precise bool
	// host is the guest-only host perf_event behind a SourceHost source
	// (the zero Event otherwise).
	host pmu.Event
}

// pmuHostProber says whether the host can count an event on VCPU threads in
// guest mode only. It returns nil or a *pmu.NotSupportedError.
type pmuHostProber func(e pmu.Event) error

// bindEvent maps an event to the source that counts it in the VM. precise
// selects single-stepping for instructions and branches; probe asks the
// host about hardware events. The error is a *pmu.NotSupportedError that
// names the event and says why.
func bindEvent(e pmu.Event, precise bool, probe pmuHostProber) (binding, error) {
	unsupported := func(reason string) (binding, error) {
		return binding{}, &pmu.NotSupportedError{Event: e.String(), Reason: reason}
	}
	switch {
	case e.Exclude&pmu.ExcludeUser != 0:
		return unsupported(reasonKernelOnly)
	case e.Exclude&pmu.ExcludeGuest != 0:
		return unsupported(reasonHostOnly)
	}
	switch e.Kind {
	case pmu.KindVirtual:
		if src, ok := virtualSource(pmu.VirtualEvent(e.Config)); ok {
			return binding{src: src}, nil
		}
		return unsupported(fmt.Sprintf("unknown vpmu hypervisor event number %d", e.Config))
	case pmu.KindSoftware:
		switch e.Config {
		case perfSWCPUClock, perfSWTaskClock:
			return binding{src: srcTime, ns: true}, nil
		case perfSWPageFaults:
			return binding{src: srcPageFaults}, nil
		case perfSWContextSwitches:
			return binding{src: srcContextSwitches}, nil
		case perfSWCPUMigrations:
			return binding{src: srcMigrations}, nil
		case perfSWPageFaultsMin, perfSWPageFaultsMaj:
			return unsupported(reasonFaultKind)
		}
		return unsupported(reasonNoSource)
	case pmu.KindHardware:
		switch e.Config {
		case perfHWRefCycles:
			return binding{src: srcTime}, nil
		case perfHWInstructions, perfHWBranches:
			if precise {
				src := srcInstructions
				if e.Config == perfHWBranches {
					src = srcBranches
				}
				return binding{src: src, precise: true}, nil
			}
			b, err := hostBinding(e, probe)
			if ns, ok := err.(*pmu.NotSupportedError); ok {
				ns.Reason += reasonPrecise
			}
			return b, err
		}
	}
	return hostBinding(e, probe)
}

// hostBinding binds a hardware event to a guest-only host perf_event, if
// the host can count it.
func hostBinding(e pmu.Event, probe pmuHostProber) (binding, error) {
	if probe == nil {
		return binding{}, &pmu.NotSupportedError{Event: e.String(), Reason: pmu.ReasonNoHardwarePMU}
	}
	h := e
	h.Exclude |= pmu.ExcludeHost
	if err := probe(h); err != nil {
		if ns, ok := err.(*pmu.NotSupportedError); ok {
			return binding{}, &pmu.NotSupportedError{Event: e.String(), Reason: ns.Reason, Err: ns.Err}
		}
		return binding{}, &pmu.NotSupportedError{Event: e.String(), Reason: "the host cannot count it on the VCPU threads", Err: err}
	}
	return binding{src: -1, host: h}, nil
}

// virtualSource maps a vpmu hypervisor event to its tally.
func virtualSource(v pmu.VirtualEvent) (int, bool) {
	switch v {
	case pmu.VirtSyscalls:
		return srcSyscalls, true
	case pmu.VirtVMExits:
		return srcExits, true
	case pmu.VirtVMExitsIO:
		return srcExitsIO, true
	case pmu.VirtVMExitsMMIO:
		return srcExitsMMIO, true
	case pmu.VirtVMExitsException:
		return srcExitsException, true
	case pmu.VirtVMExitsInterrupt:
		return srcExitsInterrupt, true
	case pmu.VirtSignals:
		return srcSignals, true
	case pmu.VirtPVCalls:
		return srcPVCalls, true
	}
	return 0, false
}

// eventCode is what a thread page's counter slot says about its event
// (CounterSlot.Event): the pmu.Kind in the top byte and the low 56 bits
// of the config; 0 is a group's time slot. Readers use it to recognise
// their counters; the VMM keeps the full event itself.
func eventCode(e pmu.Event) uint64 {
	if e.Kind == 0 {
		return 0
	}
	return uint64(e.Kind)<<56 | e.Config&(1<<56-1)
}

// sourceKind is the page kind of a source slot.
func sourceKind(src int) virt.SourceKind {
	switch {
	case src == srcTime:
		return virt.SourceTSC
	case src >= srcHostFirst:
		return virt.SourceHost
	default:
		return virt.SourceVMM
	}
}
