package pmu

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ParanoidPath is where Linux exposes kernel.perf_event_paranoid.
const ParanoidPath = "/proc/sys/kernel/perf_event_paranoid"

// Paranoid is a kernel.perf_event_paranoid level. It decides what
// perf_event_open allows a process without CAP_PERFMON (or CAP_SYS_ADMIN)
// to count (Documentation/admin-guide/sysctl/kernel.rst):
//
//	-1  everything
//	 0  everything but raw tracepoint data
//	 1  no CPU-wide events
//	 2  no CPU-wide events and no kernel counting (the upstream default)
//	≥3  nothing at all (a Debian and Ubuntu patch)
type Paranoid int

// ReadParanoid reads the level from path; "" means ParanoidPath.
func ReadParanoid(path string) (Paranoid, error) {
	if path == "" {
		path = ParanoidPath
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pmu: read perf_event_paranoid: %w", err)
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("pmu: %s: bad perf_event_paranoid %q: want an integer", path, s)
	}
	return Paranoid(n), nil
}

// Explain says in one sentence what the level forbids to an unprivileged
// process. It is written to serve as a NotSupportedError reason.
func (p Paranoid) Explain() string {
	prefix := "perf_event_paranoid is " + strconv.Itoa(int(p)) + ": "
	switch {
	case p < 0:
		return prefix + "all events are allowed to all users"
	case p == 0:
		return prefix + "CPU-wide events and kernel counting are allowed; raw tracepoint data needs CAP_PERFMON"
	case p == 1:
		return prefix + "CPU-wide events need CAP_PERFMON"
	case p == 2:
		return prefix + "kernel profiling and CPU-wide events need CAP_PERFMON"
	default:
		return prefix + "perf_event_open is disabled for unprivileged users"
	}
}

// Restriction returns why the level stops a process without CAP_PERFMON
// from opening e on t, or "" when the level allows it. It applies the
// kernel's checks: level ≥ 3 refuses everything, level ≥ 1 refuses
// CPU-wide targets (PID -1), level ≥ 2 refuses events that count in the
// kernel (no ExcludeKernel, that is no :u).
func (p Paranoid) Restriction(e Event, t Target) string {
	switch {
	case p >= 3:
		return p.Explain() + " (needs CAP_PERFMON, or a lower kernel.perf_event_paranoid)"
	case p >= 1 && t.PID == -1:
		return "perf_event_paranoid is " + strconv.Itoa(int(p)) + ": CPU-wide events need CAP_PERFMON"
	case p >= 2 && e.Exclude&ExcludeKernel == 0:
		return p.Explain() + "; count user space only with :u"
	}
	return ""
}

// Capability bits of /proc/<pid>/status CapEff (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21 // CAP_SYS_ADMIN
	capPerfmon  = 38 // CAP_PERFMON
)

// SelfStatusPath is the status file of the calling process.
const SelfStatusPath = "/proc/self/status"

// PerfmonCapable reports whether the process whose status file is at path
// ("" means SelfStatusPath) has CAP_PERFMON or CAP_SYS_ADMIN in its
// effective set, which lifts the perf_event_paranoid restrictions.
func PerfmonCapable(statusPath string) (bool, error) {
	if statusPath == "" {
		statusPath = SelfStatusPath
	}
	f, err := os.Open(statusPath)
	if err != nil {
		return false, fmt.Errorf("pmu: read capabilities: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		caps, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			return false, fmt.Errorf("pmu: %s: bad CapEff %q", statusPath, v)
		}
		return caps&(1<<capPerfmon|1<<capSysAdmin) != 0, nil
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("pmu: read %s: %w", statusPath, err)
	}
	return false, fmt.Errorf("pmu: %s: %w", statusPath, errNoCapEff)
}

var errNoCapEff = errors.New("no CapEff line")
