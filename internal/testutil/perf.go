package testutil

import (
	"fmt"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// probePerf opens the event on the calling thread, disabled, and closes
// it again.
func probePerf(typ uint32, config uint64) error {
	a := unix.PerfEventAttr{
		Type:   typ,
		Size:   unix.PerfEventAttrSize,
		Config: config,
		Bits:   unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
	}
	fd, err := unix.PerfEventOpen(&a, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// MustHavePerfEvent skips the test, with the reason, when software perf
// events (task-clock on the calling thread) cannot be opened. With
// VPMU_REQUIRE=perf it fails instead.
func MustHavePerfEvent(t testing.TB) {
	t.Helper()
	if err := probePerf(unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_TASK_CLOCK); err != nil {
		skipOrFail(t, "perf", "perf_event_open(task-clock): "+err.Error())
	}
}

// MustHaveHardwarePMU skips the test, with the reason, when hardware
// events (instructions on the calling thread) cannot be opened, for
// example in a VM without a virtual PMU. With VPMU_REQUIRE=pmu it fails
// instead.
func MustHaveHardwarePMU(t testing.TB) {
	t.Helper()
	if err := probePerf(unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_INSTRUCTIONS); err != nil {
		skipOrFail(t, "pmu", fmt.Sprintf("no hardware PMU: perf_event_open(instructions): %v", err))
	}
}
