package perfevent

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// ErrNotCgroup is matched (errors.Is) by the error OpenCgroup returns
// for a directory that is not a cgroup the perf_event controller
// manages.
var ErrNotCgroup = errors.New("not a perf_event cgroup")

// OpenCgroup opens g on CPU cpu, counting only while a task of a cgroup
// runs there: perf_event_open(2) with PERF_FLAG_PID_CGROUP and an fd of
// the cgroup's directory dir (in the cgroup v2 hierarchy, or in a v1
// hierarchy that has the perf_event controller). A cgroup's tasks on
// every CPU take one counter per CPU (see OnlineCPUs). The enabled and
// running times of such a counter advance only while a task of the
// cgroup runs on the CPU.
//
// Like a CPU-wide counter it needs CAP_PERFMON (or CAP_SYS_ADMIN) or
// perf_event_paranoid <= 0; without them the error is a
// *pmu.NotSupportedError explaining that. A dir that is not a cgroup
// directory, or a cgroup outside the perf_event hierarchy, gives an
// error matching ErrNotCgroup. Nothing stays open after an error; the
// directory itself is not kept open (the kernel holds the cgroup).
func (s *Source) OpenCgroup(g pmu.Group, dir string, cpu int) (*Counter, error) {
	if len(g.Events) == 0 {
		return nil, errors.New("perfevent: open cgroup: empty group")
	}
	if cpu < 0 {
		return nil, fmt.Errorf("perfevent: open %s on cgroup %s: cpu %d: a cgroup counter needs a CPU number", g, dir, cpu)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("perfevent: open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return nil, fmt.Errorf("perfevent: open cgroup %s: fstatfs: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC && st.Type != unix.CGROUP_SUPER_MAGIC {
		return nil, fmt.Errorf("perfevent: open cgroup %s: %w: the directory is on a file system of type %#x, not cgroup2 or cgroup", dir, ErrNotCgroup, st.Type)
	}
	if err := s.probeCgroup(fd, cpu); err != nil {
		return nil, fmt.Errorf("perfevent: open cgroup %s: %w", dir, err)
	}
	// The counter is opened as a CPU-wide one, so that errors are
	// diagnosed with the privilege rules of CPU-wide counting, which
	// are the kernel's rules for cgroup counters too; only the
	// perf_event_open call itself gets the cgroup fd and flag.
	cs := *s
	cs.userPage = false
	cs.open = func(a *unix.PerfEventAttr, _, cpu, groupFD, flags int) (int, error) {
		return s.open(a, fd, cpu, groupFD, flags|unix.PERF_FLAG_PID_CGROUP)
	}
	c, err := cs.openGroup(g, pmu.Target{PID: -1, CPU: cpu}, groupReadFormat, false, nil)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, unix.EINVAL):
		return nil, fmt.Errorf("perfevent: open cgroup %s on cpu %d (if every event fails this way, the kernel lacks CONFIG_CGROUP_PERF): %w", dir, cpu, err)
	}
	return nil, fmt.Errorf("perfevent: open cgroup %s: %w", dir, err)
}

// OnlineCPUs returns the numbers of the online CPUs, in ascending order,
// from /sys/devices/system/cpu/online.
func (s *Source) OnlineCPUs() ([]int, error) {
	cpus, err := s.host.onlineCPUs()
	if err != nil {
		return nil, fmt.Errorf("perfevent: online CPUs: %w", err)
	}
	return cpus, nil
}

// probeCgroup opens task-clock, which every kernel with perf events has,
// on the cgroup fd. The kernel answers ENOENT or EBADF when the directory
// is not in the hierarchy that holds the perf_event controller; any
// other failure is left for the real open to diagnose.
func (s *Source) probeCgroup(fd, cpu int) error {
	a := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Size:   unix.PerfEventAttrSize,
		Config: unix.PERF_COUNT_SW_TASK_CLOCK,
		Bits:   unix.PerfBitDisabled,
	}
	pfd, err := s.open(&a, fd, cpu, -1, openFlags|unix.PERF_FLAG_PID_CGROUP)
	switch {
	case err == nil:
		return unix.Close(pfd)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EBADF):
		return fmt.Errorf("%w: the kernel refused the directory (%v); use a directory of the cgroup v2 hierarchy, or of a v1 hierarchy with the perf_event controller", ErrNotCgroup, err)
	}
	return nil
}
