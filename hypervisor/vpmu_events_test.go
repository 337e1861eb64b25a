package hypervisor

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/pmu"
)

func TestBindEvent(t *testing.T) {
	noPMU := func(e pmu.Event) error {
		return &pmu.NotSupportedError{Event: e.String(), Reason: pmu.ReasonNoHardwarePMU}
	}
	withPMU := func(e pmu.Event) error {
		if e.Exclude&pmu.ExcludeHost == 0 {
			return errors.New("host event not guest-only")
		}
		return nil
	}
	for _, tc := range []struct {
		spec    string
		precise bool
		probe   pmuHostProber
		src     int // -1: a host source; -2: not supported
		ns      bool
		reason  string
	}{
		{"task-clock", false, noPMU, srcTime, true, ""},
		{"cpu-clock", false, noPMU, srcTime, true, ""},
		{"ref-cycles", false, noPMU, srcTime, false, ""},
		{"syscalls", false, noPMU, srcSyscalls, false, ""},
		{"vm-exits", false, noPMU, srcExits, false, ""},
		{"vm-exits-io", false, noPMU, srcExitsIO, false, ""},
		{"vm-exits-mmio", false, noPMU, srcExitsMMIO, false, ""},
		{"vm-exits-exception", false, noPMU, srcExitsException, false, ""},
		{"vm-exits-interrupt", false, noPMU, srcExitsInterrupt, false, ""},
		{"signals", false, noPMU, srcSignals, false, ""},
		{"pv-calls", false, noPMU, srcPVCalls, false, ""},
		{"context-switches", false, noPMU, srcContextSwitches, false, ""},
		{"cs", false, noPMU, srcContextSwitches, false, ""},
		{"cpu-migrations", false, noPMU, srcMigrations, false, ""},
		{"page-faults", false, noPMU, srcPageFaults, false, ""},
		{"syscalls:u", false, noPMU, srcSyscalls, false, ""},
		{"instructions", true, noPMU, srcInstructions, false, ""},
		{"branches", true, noPMU, srcBranches, false, ""},
		{"branch-instructions", true, noPMU, srcBranches, false, ""},
		{"instructions", false, noPMU, -2, false, "no hardware PMU"},
		{"instructions", false, noPMU, -2, false, "precise mode"},
		{"cycles", true, noPMU, -2, false, "no hardware PMU"},
		{"cycles", false, nil, -2, false, "no hardware PMU"},
		{"cycles", false, withPMU, -1, false, ""},
		{"instructions", false, withPMU, -1, false, ""},
		{"L1-dcache-load-misses", false, withPMU, -1, false, ""},
		{"r01c2", false, noPMU, -2, false, "no hardware PMU"},
		{"minor-faults", false, noPMU, -2, false, "page-faults"},
		{"alignment-faults", false, noPMU, -2, false, "no source"},
		{"cycles:k", false, withPMU, -2, false, "user mode"},
		{"syscalls:k", false, noPMU, -2, false, "user mode"},
		{"cycles:H", false, withPMU, -2, false, "excludes the guest"},
	} {
		e := pmu.MustParseSpec(tc.spec).Events()[0]
		b, err := bindEvent(e, tc.precise, tc.probe)
		switch {
		case tc.src == -2:
			var ns *pmu.NotSupportedError
			if !errors.As(err, &ns) || ns.Event != e.String() || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("%s (precise %v): %v, want not supported because %q", tc.spec, tc.precise, err, tc.reason)
			}
		case err != nil:
			t.Errorf("%s (precise %v): %v", tc.spec, tc.precise, err)
		case b.src != tc.src || b.ns != tc.ns:
			t.Errorf("%s (precise %v): source %d ns %v, want %d %v", tc.spec, tc.precise, b.src, b.ns, tc.src, tc.ns)
		case tc.src == -1 && b.host.Exclude&pmu.ExcludeHost == 0:
			t.Errorf("%s: host event %+v is not guest-only", tc.spec, b.host)
		case b.precise != (tc.src == srcInstructions || tc.src == srcBranches):
			t.Errorf("%s: precise = %v", tc.spec, b.precise)
		}
	}
}

func TestEventCode(t *testing.T) {
	if eventCode(pmu.Event{}) != 0 {
		t.Error("the time slot's code is not 0")
	}
	a, b := pmu.MustParseSpec("syscalls").Events()[0], pmu.MustParseSpec("task-clock").Events()[0]
	if eventCode(a) == eventCode(b) || eventCode(a)>>56 != uint64(pmu.KindVirtual) {
		t.Errorf("codes %#x %#x", eventCode(a), eventCode(b))
	}
}
