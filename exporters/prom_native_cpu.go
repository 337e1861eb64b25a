package exporters

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// CPUSetTarget counts with one counter per online CPU: either
// everything that runs on each CPU (NewSystemTarget, rows labeled cpu)
// or only the tasks of one cgroup (NewCgroupTarget, rows summed over
// the CPUs). Both need CAP_PERFMON or perf_event_paranoid <= 0; without
// them every event is not supported, with that reason.
//
// The counters are opened on the CPUs online when the target is
// created; a CPU brought online later is not counted.
type CPUSetTarget struct {
	info   PromTargetInfo
	perCPU bool
	dir    string // the cgroup's directory, or ""

	cpus    []int
	set     *nativeSet[[]*perfevent.Counter]
	labels  [][]Label   // per CPU: {cpu}
	sum     []pmu.Value // per event, summed over CPUs
	scratch []pmu.Value
	rows    []Row
	final   []Row
	closed  bool
}

// NewSystemTarget counts every task on every online CPU: perf's
// system-wide mode (pid -1 on each CPU). Its rows are labeled {cpu}; its
// identity is {target="system"}.
func NewSystemTarget(src *perfevent.Source, spec pmu.Spec) (*CPUSetTarget, error) {
	t := &CPUSetTarget{info: PromTargetInfo{Kind: "system"}, perCPU: true}
	err := t.open(src, spec, func(g pmu.Group, cpu int) (*perfevent.Counter, error) {
		return src.OpenCounter(g, pmu.Target{PID: -1, CPU: cpu})
	})
	if err != nil {
		return nil, fmt.Errorf("exporters: system target: %w", err)
	}
	return t, nil
}

// NewCgroupTarget counts the tasks of a cgroup on every online CPU
// (perf_event_open with PERF_FLAG_PID_CGROUP). path is the cgroup's
// directory (/sys/fs/cgroup/jobs/a) or its path in the cgroup v2
// hierarchy (jobs/a, /jobs/a). The counts are summed over the CPUs; the
// identity is {target="cgroup", cgroup="/jobs/a"}. When the cgroup's
// directory is removed, the counts are final and the rows carry
// ErrTargetExited.
func NewCgroupTarget(src *perfevent.Source, spec pmu.Spec, path string) (*CPUSetTarget, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("exporters: cgroup %s: %w", path, err)
	}
	dir, name, err := resolveCgroup(path, parseMountinfo(mi))
	if err != nil {
		return nil, fmt.Errorf("exporters: cgroup %s: %w", path, err)
	}
	t := &CPUSetTarget{info: PromTargetInfo{Kind: "cgroup", Labels: []Label{{"cgroup", name}}}, dir: dir}
	err = t.open(src, spec, func(g pmu.Group, cpu int) (*perfevent.Counter, error) {
		return src.OpenCgroup(g, dir, cpu)
	})
	if err != nil {
		return nil, fmt.Errorf("exporters: cgroup %s: %w", name, err)
	}
	return t, nil
}

// open opens the spec on every online CPU with openCPU.
func (t *CPUSetTarget) open(src *perfevent.Source, spec pmu.Spec, openCPU func(pmu.Group, int) (*perfevent.Counter, error)) error {
	cpus, err := src.OnlineCPUs()
	if err != nil {
		return err
	}
	t.cpus = cpus
	for _, c := range cpus {
		t.labels = append(t.labels, []Label{CPULabel(c)})
	}
	t.set, err = openNative(spec, func(g pmu.Group) ([]*perfevent.Counter, error) {
		cs := make([]*perfevent.Counter, 0, len(cpus))
		for _, cpu := range cpus {
			c, err := openCPU(g, cpu)
			if err != nil {
				closeCounters(cs)
				return nil, err
			}
			cs = append(cs, c)
		}
		return cs, nil
	}, closeCounters)
	return err
}

func closeCounters(cs []*perfevent.Counter) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Info returns the target's identity.
func (t *CPUSetTarget) Info() PromTargetInfo { return t.info }

// CPUs returns the CPUs counted.
func (t *CPUSetTarget) CPUs() []int { return t.cpus }

// Unsupported returns a row for each event that is not counted, with
// the reason in Err.
func (t *CPUSetTarget) Unsupported() []Row { return t.set.unsupported(nil) }

// Read implements PromTarget. The returned rows are valid until the
// next Read.
func (t *CPUSetTarget) Read(ctx context.Context) ([]Row, error) {
	if t.final != nil {
		return t.final, nil
	}
	if t.closed {
		return nil, fmt.Errorf("%s: %w", t.info, errTargetClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	gone := false
	if t.dir != "" {
		_, err := os.Stat(t.dir)
		gone = errors.Is(err, fs.ErrNotExist)
	}
	rows := t.rows[:0]
	for _, g := range t.set.groups {
		n := len(g.group.Events)
		if !t.perCPU {
			t.sum = slices.Grow(t.sum[:0], n)[:n]
			clear(t.sum)
		}
		for ci, c := range g.counter {
			vs, err := c.ReadInto(t.scratch)
			if err != nil {
				return nil, fmt.Errorf("%s: read %s on cpu %d: %w", t.info, g.group, t.cpus[ci], err)
			}
			t.scratch = vs
			if !t.perCPU {
				sumValues(t.sum, vs)
				continue
			}
			for i, v := range vs {
				rows = append(rows, Row{Labels: t.labels[ci], Event: g.group.Events[i].String(), Value: v})
			}
		}
		if !t.perCPU {
			for i, v := range t.sum {
				v.Event = g.group.Events[i]
				rows = append(rows, Row{Event: v.Event.String(), Value: v})
			}
		}
	}
	for _, sl := range t.set.slots {
		if sl.err != nil {
			rows = append(rows, Row{Event: sl.name, Value: pmu.Value{Event: sl.event}, Err: sl.err})
		}
	}
	t.rows = rows
	if !gone {
		return rows, nil
	}
	t.final = make([]Row, len(rows))
	for i, r := range rows {
		if r.Err == nil {
			r.Err = ErrTargetExited
		}
		t.final[i] = r
	}
	return t.final, t.Close()
}

// Close closes the counters. It is idempotent.
func (t *CPUSetTarget) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	return t.set.close(closeCounters)
}
