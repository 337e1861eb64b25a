package perfevent

import (
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// Read formats. Counters are opened with groupReadFormat, so that one
// read(2) of the leader returns every member's value with its ID and the
// group's enabled and running times. When the kernel refuses
// PERF_FORMAT_GROUP together with inherit (older kernels return EINVAL for
// that combination), the group is reopened with singleReadFormat and each
// fd is read on its own.
const (
	singleReadFormat = unix.PERF_FORMAT_TOTAL_TIME_ENABLED |
		unix.PERF_FORMAT_TOTAL_TIME_RUNNING |
		unix.PERF_FORMAT_ID
	groupReadFormat = singleReadFormat | unix.PERF_FORMAT_GROUP
)

// openFlags are the perf_event_open flags of every fd this package opens.
const openFlags = unix.PERF_FLAG_FD_CLOEXEC

// attrFor builds the perf_event_attr of event e, opened on target t as
// the leader of its group or as a member. readFormat is the group's read
// format. pinned pins the group (only a leader may carry it).
//
// Every event of a group gets the target's disabled and enable_on_exec
// bits, so that the members' enabled time starts with the leader's and
// PERF_EVENT_IOC_ENABLE with PERF_IOC_FLAG_GROUP on the leader starts
// them all.
func attrFor(e pmu.Event, t pmu.Target, leader bool, readFormat uint64, pinned bool) (unix.PerfEventAttr, error) {
	var a unix.PerfEventAttr
	switch e.Kind {
	case pmu.KindHardware, pmu.KindSoftware, pmu.KindHWCache, pmu.KindRaw, pmu.KindPMU:
	case pmu.KindVirtual:
		return a, &pmu.NotSupportedError{Event: e.String(), Reason: pmu.ReasonVirtualOnly}
	default:
		return a, fmt.Errorf("event %q: unknown event kind %d", e.String(), e.Kind)
	}
	if e.Precise > 3 {
		return a, fmt.Errorf("event %q: precise level %d out of range 0-3", e.String(), e.Precise)
	}
	a.Type = e.Type
	a.Size = unix.PerfEventAttrSize
	a.Config = e.Config
	a.Ext1 = e.Config1
	a.Ext2 = e.Config2
	a.Read_format = readFormat
	precise := e.Precise
	if e.PreciseMax {
		precise = 3 // lowered by openGroup until the PMU accepts it
	}
	a.Bits = excludeBits(e.Exclude) | uint64(precise)<<unix.PerfPreciseIPShift
	if t.Inherit {
		a.Bits |= unix.PerfBitInherit
	}
	if t.Disabled || t.EnableOnExec {
		a.Bits |= unix.PerfBitDisabled
	}
	if t.EnableOnExec {
		a.Bits |= unix.PerfBitEnableOnExec
	}
	if leader && pinned {
		a.Bits |= unix.PerfBitPinned
	}
	return a, nil
}

// excludeBits maps pmu.Exclude to the exclude_* bits of the attr.
func excludeBits(x pmu.Exclude) uint64 {
	var b uint64
	for _, m := range []struct {
		x   pmu.Exclude
		bit uint64
	}{
		{pmu.ExcludeUser, unix.PerfBitExcludeUser},
		{pmu.ExcludeKernel, unix.PerfBitExcludeKernel},
		{pmu.ExcludeHV, unix.PerfBitExcludeHv},
		{pmu.ExcludeGuest, unix.PerfBitExcludeGuest},
		{pmu.ExcludeHost, unix.PerfBitExcludeHost},
		{pmu.ExcludeIdle, unix.PerfBitExcludeIdle},
	} {
		if x&m.x != 0 {
			b |= m.bit
		}
	}
	return b
}

// groupPinned reports whether any event of g asks to be pinned; pinning
// is a property of the whole group, carried by its leader.
func groupPinned(g pmu.Group) bool {
	for _, e := range g.Events {
		if e.Pinned {
			return true
		}
	}
	return false
}

// preciseOf extracts precise_ip from attr bits.
func preciseOf(bits uint64) uint8 {
	return uint8(bits>>unix.PerfPreciseIPShift) & 3
}

// withPrecise returns bits with precise_ip set to p.
func withPrecise(bits uint64, p uint8) uint64 {
	return bits&^(3<<unix.PerfPreciseIPShift) | uint64(p&3)<<unix.PerfPreciseIPShift
}

// checkTarget rejects targets perf_event_open cannot express before any
// syscall is made.
func checkTarget(t pmu.Target) error {
	switch {
	case t.PID < -1:
		return fmt.Errorf("target pid %d: must be -1, 0 or a thread id", t.PID)
	case t.CPU < -1:
		return fmt.Errorf("target cpu %d: must be -1 or a CPU number", t.CPU)
	case t.PID == -1 && t.CPU == -1:
		return fmt.Errorf("target pid -1 cpu -1: a counter needs a thread, a CPU or both")
	case t.PID == -1 && t.Inherit:
		return fmt.Errorf("target cpu %d: inherit needs a thread target, not a whole CPU", t.CPU)
	}
	return nil
}
