package pmu

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadParanoid(t *testing.T) {
	for content, want := range map[string]Paranoid{"2\n": 2, "-1\n": -1, " 0 ": 0, "3": 3, "4\n": 4} {
		got, err := ReadParanoid(writeFile(t, content))
		if err != nil || got != want {
			t.Errorf("ReadParanoid(%q) = %d, %v; want %d", content, got, err, want)
		}
	}
	for _, content := range []string{"", "two", "2.0", "1 2"} {
		if got, err := ReadParanoid(writeFile(t, content)); err == nil {
			t.Errorf("ReadParanoid(%q) = %d, want error", content, got)
		}
	}
	if _, err := ReadParanoid(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "perf_event_paranoid") {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestReadParanoidLive reads this machine's level; perf_event_paranoid
// exists wherever perf events do.
func TestReadParanoidLive(t *testing.T) {
	b, err := os.ReadFile(ParanoidPath)
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	got, err := ReadParanoid("")
	if err != nil || int(got) != want {
		t.Errorf("ReadParanoid(\"\") = %d, %v; want %d", got, err, want)
	}
}

func TestParanoidExplain(t *testing.T) {
	for p, want := range map[Paranoid]string{
		-1: "perf_event_paranoid is -1: all events are allowed to all users",
		0:  "perf_event_paranoid is 0: CPU-wide events and kernel counting are allowed; raw tracepoint data needs CAP_PERFMON",
		1:  "perf_event_paranoid is 1: CPU-wide events need CAP_PERFMON",
		2:  "perf_event_paranoid is 2: kernel profiling and CPU-wide events need CAP_PERFMON",
		3:  "perf_event_paranoid is 3: perf_event_open is disabled for unprivileged users",
		4:  "perf_event_paranoid is 4: perf_event_open is disabled for unprivileged users",
	} {
		if got := p.Explain(); got != want {
			t.Errorf("Paranoid(%d).Explain() = %q, want %q", p, got, want)
		}
	}
}

func TestParanoidRestriction(t *testing.T) {
	all := Event{Name: "cycles"}
	user := Event{Name: "cycles", Modifiers: "u", Exclude: ExcludeKernel | ExcludeHV}
	cpuWide := Target{PID: -1, CPU: 0}
	for _, tc := range []struct {
		p    Paranoid
		e    Event
		t    Target
		want string // substring; "" means allowed
	}{
		{-1, all, cpuWide, ""},
		{0, all, cpuWide, ""},
		{1, all, ThisThread, ""},
		{1, all, cpuWide, "perf_event_paranoid is 1: CPU-wide events need CAP_PERFMON"},
		{2, user, ThisThread, ""},
		{2, user, Target{PID: 1234, CPU: -1}, ""},
		{2, all, ThisThread, "perf_event_paranoid is 2: kernel profiling and CPU-wide events need CAP_PERFMON; count user space only with :u"},
		{2, user, cpuWide, "CPU-wide events need CAP_PERFMON"},
		{3, user, ThisThread, "perf_event_open is disabled for unprivileged users"},
		{4, user, ThisThread, "perf_event_paranoid is 4"},
	} {
		got := tc.p.Restriction(tc.e, tc.t)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("Paranoid(%d).Restriction(%s, %+v) = %q, want ~%q", tc.p, tc.e, tc.t, got, tc.want)
		}
	}
}

func TestPerfmonCapable(t *testing.T) {
	for file, want := range map[string]bool{"status-root": true, "status-user": false, "status-perfmon": true, "status-sysadmin": true} {
		got, err := PerfmonCapable(filepath.Join("testdata/proc", file))
		if err != nil || got != want {
			t.Errorf("PerfmonCapable(%s) = %v, %v; want %v", file, got, err, want)
		}
	}
	for _, file := range []string{"status-nocap", "status-bad", "missing"} {
		if _, err := PerfmonCapable(filepath.Join("testdata/proc", file)); err == nil {
			t.Errorf("PerfmonCapable(%s) succeeded, want error", file)
		}
	}
	if _, err := PerfmonCapable(""); err != nil {
		t.Errorf("PerfmonCapable of this process: %v", err)
	}
}

func TestIsCorePMU(t *testing.T) {
	for name, want := range map[string]bool{
		"cpu": true, "cpu_core": true, "cpu_atom": true, "cpum_cf": true,
		"armv8_pmuv3_0": true, "armv8_cortex_a72": true, "armv7_cortex_a15": true, "apple_firestorm_pmu": true,
		"msr": false, "software": false, "uncore_imc_0": false, "armv8_": false, "cpu0": false, "power": false, "arm_cmn_0": false,
	} {
		if got := IsCorePMU(name); got != want {
			t.Errorf("IsCorePMU(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestHardwarePMU(t *testing.T) {
	noCPU := writeTree(t, map[string]string{"msr/type": "9", "software/type": "1", "breakpoint/type": "5"})
	arm := writeTree(t, map[string]string{"armv8_pmuv3_0/type": "8", "software/type": "1"})
	for _, tc := range []struct {
		name, root, cpuinfo string
		present             bool
		reason              string
	}{
		{"fake tree with cpu", fakeSysfs, "testdata/proc/cpuinfo-vm", true, ""},
		{"ARM core PMU", arm, "testdata/proc/cpuinfo-arm-vm", true, ""},
		{"VM without vPMU", noCPU, "testdata/proc/cpuinfo-vm", false, ReasonNoHardwarePMU},
		{"ARM VM without vPMU", noCPU, "testdata/proc/cpuinfo-arm-vm", false, ReasonNoHardwarePMU},
		{"bare metal without driver", noCPU, "testdata/proc/cpuinfo-metal", false, ReasonNoCorePMUDriver},
		{"no cpuinfo", noCPU, "testdata/proc/missing", false, ReasonNoCorePMUDriver},
		{"no devices dir", t.TempDir(), "testdata/proc/cpuinfo-vm", false, "does not exist"},
	} {
		present, reason := HardwarePMUAt(tc.root, tc.cpuinfo)
		if present != tc.present || !strings.Contains(reason, tc.reason) || (tc.reason == "") != (reason == "") {
			t.Errorf("%s: HardwarePMUAt = %v, %q; want %v, %q", tc.name, present, reason, tc.present, tc.reason)
		}
	}
}

// TestHardwarePMULive checks the probe on this machine against sysfs and
// cpuinfo read directly. On vpmu's machines (VMs without a virtual PMU) it
// must say ReasonNoHardwarePMU.
func TestHardwarePMULive(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join("/sys", devicesDir))
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	core := false
	for _, e := range ents {
		core = core || IsCorePMU(e.Name())
	}
	present, reason := HardwarePMU("/sys")
	if present != core {
		t.Fatalf("HardwarePMU(/sys) = %v, %q; sysfs has a core PMU: %v", present, reason, core)
	}
	if present {
		if reason != "" {
			t.Errorf("present with reason %q", reason)
		}
		return
	}
	vm, err := CPUHasFlag(CPUInfoPath, "hypervisor")
	if err != nil {
		t.Fatal(err)
	}
	want := ReasonNoCorePMUDriver
	if vm {
		want = ReasonNoHardwarePMU
	}
	if reason != want {
		t.Errorf("HardwarePMU(/sys) reason = %q, want %q", reason, want)
	}
	t.Logf("no hardware PMU here: %s", reason)
}

func TestCPUHasFlag(t *testing.T) {
	for _, tc := range []struct {
		file, flag string
		want       bool
	}{
		{"cpuinfo-vm", "hypervisor", true},
		{"cpuinfo-vm", "avx", true},
		{"cpuinfo-vm", "avx2", false},
		{"cpuinfo-metal", "hypervisor", false}, // only the first CPU counts
		{"cpuinfo-metal", "arch_perfmon", true},
		{"cpuinfo-arm-vm", "hypervisor", true},
	} {
		got, err := CPUHasFlag(filepath.Join("testdata/proc", tc.file), tc.flag)
		if err != nil || got != tc.want {
			t.Errorf("CPUHasFlag(%s, %s) = %v, %v; want %v", tc.file, tc.flag, got, err, tc.want)
		}
	}
}
