package perfevent

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// host answers the questions error diagnosis asks about the machine:
// perf_event_paranoid, the process's capabilities, whether a core PMU
// exists. It reads files under configurable roots so tests can point it
// at a fake tree.
type host struct {
	procRoot  string // normally "/proc"
	sysfsRoot string // normally "/sys"
}

var realHost = host{procRoot: "/proc", sysfsRoot: "/sys"}

// Capability numbers from include/uapi/linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
)

// paranoid returns kernel.perf_event_paranoid.
func (h host) paranoid() (int, error) {
	return readIntFile(filepath.Join(h.procRoot, "sys/kernel/perf_event_paranoid"))
}

// maxSampleRate returns kernel.perf_event_max_sample_rate.
func (h host) maxSampleRate() (int, error) {
	return readIntFile(filepath.Join(h.procRoot, "sys/kernel/perf_event_max_sample_rate"))
}

// perfCapable reports whether the process has CAP_PERFMON or
// CAP_SYS_ADMIN in its effective set, which lift the paranoid limits.
func (h host) perfCapable() (bool, error) {
	f, err := os.Open(filepath.Join(h.procRoot, "self/status"))
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("parse CapEff %q: %w", v, err)
		}
		return caps&(1<<capPerfmon) != 0 || caps&(1<<capSysAdmin) != 0, nil
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("%s/self/status: no CapEff line", h.procRoot)
}

// hardwarePMU reports whether the kernel registered a core CPU PMU. The
// core PMU of every architecture registers itself with type
// PERF_TYPE_RAW (4) under /sys/bus/event_source/devices; hybrid x86 has
// cpu_core and cpu_atom with dynamic types, so those names count too.
// The reason says what was looked at when there is none.
func (h host) hardwarePMU() (bool, string) {
	dir := filepath.Join(h.sysfsRoot, "bus/event_source/devices")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Sprintf("cannot list PMUs: %v", err)
	}
	var names []string
	for _, ent := range ents {
		name := ent.Name()
		names = append(names, name)
		switch name {
		case "cpu", "cpu_core", "cpu_atom":
			return true, ""
		}
		if t, err := readIntFile(filepath.Join(dir, name, "type")); err == nil && t == 4 {
			return true, ""
		}
	}
	return false, fmt.Sprintf("no core PMU among %s (%s)", dir, strings.Join(names, ", "))
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

// explainParanoid says what a perf_event_paranoid level forbids to a
// process without CAP_PERFMON (see the kernel's perf-security.rst).
func explainParanoid(level int) string {
	switch {
	case level >= 3:
		return "unprivileged processes may not use perf_event_open at all (distribution extension)"
	case level == 2:
		return "unprivileged processes may count only user-mode events of their own threads (no kernel, no CPU-wide)"
	case level == 1:
		return "unprivileged processes may count user and kernel mode of their own threads, but not whole CPUs"
	case level == 0:
		return "unprivileged processes may count threads and CPUs, but not read raw tracepoint data"
	default:
		return "no restrictions"
	}
}
