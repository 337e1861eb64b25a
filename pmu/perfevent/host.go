package perfevent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vpmu/vpmu/pmu"
)

// host answers the questions error diagnosis asks about the machine:
// perf_event_paranoid, the process's capabilities, whether a core PMU
// exists. It reads files under configurable roots so tests can point it
// at a fake tree; the parsing and the explanations are package pmu's
// (ReadParanoid, PerfmonCapable, HardwarePMUAt).
type host struct {
	procRoot  string // normally "/proc"
	sysfsRoot string // normally "/sys"
}

var realHost = host{procRoot: "/proc", sysfsRoot: "/sys"}

// paranoid returns kernel.perf_event_paranoid.
func (h host) paranoid() (pmu.Paranoid, error) {
	return pmu.ReadParanoid(filepath.Join(h.procRoot, "sys/kernel/perf_event_paranoid"))
}

// maxSampleRate returns kernel.perf_event_max_sample_rate.
func (h host) maxSampleRate() (int, error) {
	return readIntFile(filepath.Join(h.procRoot, "sys/kernel/perf_event_max_sample_rate"))
}

// perfCapable reports whether the process has CAP_PERFMON or
// CAP_SYS_ADMIN in its effective set, which lift the paranoid limits.
func (h host) perfCapable() (bool, error) {
	return pmu.PerfmonCapable(filepath.Join(h.procRoot, "self/status"))
}

// hardwarePMU reports whether the kernel registered a core CPU PMU and,
// when not, why (pmu.ReasonNoHardwarePMU in a VM).
func (h host) hardwarePMU() (bool, string) {
	return pmu.HardwarePMUAt(h.sysfsRoot, filepath.Join(h.procRoot, "cpuinfo"))
}

// pmuExists reports whether a sysfs PMU of that name is registered.
func (h host) pmuExists(name string) bool {
	_, err := os.Stat(filepath.Join(h.sysfsRoot, "bus/event_source/devices", name))
	return err == nil
}

// possibleCPUs returns the number of CPU ids the kernel accepts, from
// /sys/devices/system/cpu/possible ("0-3" or "0,2-5"), or 0 if unknown.
func (h host) possibleCPUs() int {
	cpus, err := h.cpuList("possible")
	if err != nil || len(cpus) == 0 {
		return 0
	}
	return cpus[len(cpus)-1] + 1
}

// onlineCPUs lists the online CPUs.
func (h host) onlineCPUs() ([]int, error) { return h.cpuList("online") }

// cpuList parses /sys/devices/system/cpu/<name>, a list of ids and
// ranges, in ascending order.
func (h host) cpuList(name string) ([]int, error) {
	path := filepath.Join(h.sysfsRoot, "devices/system/cpu", name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cpus []int
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		loS, hiS, isRange := strings.Cut(part, "-")
		if !isRange {
			hiS = loS
		}
		lo, err1 := strconv.Atoi(loS)
		hi, err2 := strconv.Atoi(hiS)
		if err1 != nil || err2 != nil || lo > hi || hi >= 1<<16 {
			return nil, fmt.Errorf("%s: bad cpu list %q", path, b)
		}
		for c := lo; c <= hi; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func readIntFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
