package testutil

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// probePerf opens the event on the calling thread, disabled, counting
// user and kernel mode as the tests do, and closes it again. Errors name
// the event and, for permission errors, perf_event_paranoid.
func probePerf(name string, typ uint32, config uint64) error {
	a := unix.PerfEventAttr{
		Type:   typ,
		Size:   unix.PerfEventAttrSize,
		Config: config,
		Bits:   unix.PerfBitDisabled,
	}
	fd, err := unix.PerfEventOpen(&a, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		msg := fmt.Sprintf("perf_event_open(%s): %v", name, err)
		if err == unix.EACCES || err == unix.EPERM {
			if b, rerr := os.ReadFile("/proc/sys/kernel/perf_event_paranoid"); rerr == nil {
				msg += fmt.Sprintf(" (perf_event_paranoid is %s; counting kernel mode needs <= 1 or CAP_PERFMON)", strings.TrimSpace(string(b)))
			}
		}
		return errors.New(msg)
	}
	return unix.Close(fd)
}

// MustHavePerfEvent skips the test, with the reason, when software perf
// events (task-clock on the calling thread, user and kernel mode) cannot
// be opened: no perf_event support, a seccomp filter, or
// perf_event_paranoid >= 2 without CAP_PERFMON. With VPMU_REQUIRE=perf it
// fails instead.
func MustHavePerfEvent(t testing.TB) {
	t.Helper()
	if err := probePerf("task-clock", unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_TASK_CLOCK); err != nil {
		skipOrFail(t, "perf", err.Error())
	}
}

// MustHaveHardwarePMU skips the test, with the reason, when hardware
// events (instructions on the calling thread) cannot be opened, for
// example in a VM without a virtual PMU. With VPMU_REQUIRE=pmu it fails
// instead.
func MustHaveHardwarePMU(t testing.TB) {
	t.Helper()
	if err := probePerf("instructions", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_INSTRUCTIONS); err != nil {
		skipOrFail(t, "pmu", "no hardware PMU: "+err.Error())
	}
}
