package exporters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	vtestutil "github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// nativeSpec is the exporter's default event set: software events that
// count everywhere, and hardware events that are not supported on a
// machine without a PMU.
var nativeSpec = pmu.MustParseSpec("task-clock,context-switches,page-faults,{cycles,instructions}")

// readRows reads a target once and returns a copy of the rows (a
// target may reuse them in its next Read).
func readRows(t testing.TB, tg PromTarget) []Row {
	t.Helper()
	rows, err := tg.Read(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", tg.Info(), err)
	}
	return slices.Clone(rows)
}

// rowOf returns the row of event with the label set labels ("" for any).
func rowOf(t testing.TB, rows []Row, event string, labels string) Row {
	t.Helper()
	for _, r := range rows {
		if r.Name() == event && (labels == "" || labelKey(r.Labels) == labels) {
			return r
		}
	}
	t.Fatalf("no row for %s %q in %d rows", event, labels, len(rows))
	return Row{}
}

// checkHardwareRows checks that the hardware events are counted where a
// PMU exists and are not supported, with the reason, where none does.
func checkHardwareRows(t *testing.T, rows []Row) {
	t.Helper()
	hw := hardwareCounts()
	for _, ev := range []string{"cycles", "instructions"} {
		for _, r := range rows {
			if r.Name() != ev {
				continue
			}
			if hw && r.Err != nil {
				t.Errorf("%s: %v, want a count (this machine has a PMU)", ev, r.Err)
			}
			if !hw && (!errors.Is(r.Err, pmu.ErrNotSupported) || r.Reason() == "") {
				t.Errorf("%s: err %v, want not supported with a reason", ev, r.Err)
			}
		}
	}
}

func TestProcessTarget(t *testing.T) {
	vtestutil.MustHavePerfEvent(t)
	h := startThreads(t, 1)
	pid := h.cmd.Process.Pid
	p, err := NewProcessTarget(perfevent.New(), nativeSpec, pid, ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if info := p.Info(); info.Kind != "process" || labelKey(info.Labels) != labelKey([]Label{{"pid", strconv.Itoa(pid)}}) {
		t.Errorf("info %s", info)
	}
	comm := readComm(fmt.Sprintf("/proc/%d/comm", pid))
	first := readRows(t, p)
	tc0 := rowOf(t, first, "task-clock", "").Value
	checkHardwareRows(t, first)
	for _, r := range first {
		if labelKey(r.Labels) != labelKey([]Label{{LabelComm, comm}}) {
			t.Errorf("%s: labels %v, want comm=%s", r.Name(), r.Labels, comm)
		}
	}
	eventually(t, "the spinning helper's task-clock grows", func() bool {
		return rowOf(t, readRows(t, p), "task-clock", "").Value.Raw > tc0.Raw+1e6
	})
	if r := rowOf(t, readRows(t, p), "task-clock", ""); r.Err != nil || r.Value.Enabled == 0 || r.Value.Running != r.Value.Enabled {
		t.Errorf("task-clock %+v, want a count that ran all the time it was enabled", r)
	}

	// The process exits: the next read is final and closes the counters.
	last := rowOf(t, readRows(t, p), "task-clock", "").Value
	h.kill()
	final := readRows(t, p)
	if !p.closed {
		t.Error("counters still open after the process exited")
	}
	for _, r := range final {
		switch {
		case errors.Is(r.Err, pmu.ErrNotSupported):
		case !errors.Is(r.Err, ErrTargetExited):
			t.Errorf("%s: err %v, want ErrTargetExited", r.Name(), r.Err)
		}
	}
	if v := rowOf(t, final, "task-clock", "").Value; v.Raw < last.Raw {
		t.Errorf("final task-clock %d < earlier %d", v.Raw, last.Raw)
	}
	again := readRows(t, p)
	if len(again) != len(final) || rowOf(t, again, "task-clock", "").Value != rowOf(t, final, "task-clock", "").Value {
		t.Error("reads after the exit changed the final counts")
	}
}

func TestProcessTargetPerThread(t *testing.T) {
	vtestutil.MustHavePerfEvent(t)
	h := startThreads(t, 3)
	pid := h.cmd.Process.Pid
	p, err := NewProcessTarget(perfevent.New(), nativeSpec, pid, ProcessOptions{PerThread: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tids := map[string]bool{}
	for _, r := range readRows(t, p) {
		if r.Err != nil {
			continue
		}
		var tid, comm string
		for _, l := range r.Labels {
			switch l.Name {
			case LabelTID:
				tid = l.Value
			case LabelComm:
				comm = l.Value
			}
		}
		if tid == "" || comm == "" {
			t.Fatalf("%s: labels %v, want tid and comm", r.Name(), r.Labels)
		}
		tids[tid] = true
	}
	if len(tids) < 4 {
		t.Fatalf("%d threads (%v), want the 3 spinning threads and the main thread at least", len(tids), tids)
	}
	// Three threads spin: at least three rows of task-clock grow.
	eventually(t, "three threads' task-clock grows", func() bool {
		n := 0
		for _, r := range readRows(t, p) {
			if r.Name() == "task-clock" && r.Value.Raw > 1e7 {
				n++
			}
		}
		return n >= 3
	})

	// One thread ends: its rows say so, the others' do not.
	before := map[string]bool{}
	for tid := range tids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%s", pid, tid)); err == nil {
			before[tid] = true
		}
	}
	fmt.Fprintln(h.stdin, "stop")
	h.expect(t, "stopped")
	eventually(t, "a thread's rows say it exited", func() bool {
		for _, r := range readRows(t, p) {
			if errors.Is(r.Err, ErrTargetExited) {
				return true
			}
		}
		return false
	})
	exitedN, liveN := 0, 0
	for _, r := range readRows(t, p) {
		if r.Name() != "task-clock" {
			continue
		}
		if errors.Is(r.Err, ErrTargetExited) {
			exitedN++
		} else if r.Err == nil {
			liveN++
		}
	}
	if exitedN != 1 || liveN < 3 {
		t.Errorf("%d exited and %d live task-clock rows, want 1 and at least 3", exitedN, liveN)
	}
}

func TestSystemTarget(t *testing.T) {
	vtestutil.MustHavePerfEvent(t)
	src := perfevent.New()
	cpus, err := src.OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSystemTarget(src, pmu.MustParseSpec("cpu-clock,context-switches,cycles"))
	if err != nil {
		var ns *pmu.NotSupportedError
		if errors.As(err, &ns) {
			t.Skipf("skipping: system-wide counting is not allowed here: %v", err)
		}
		t.Fatal(err)
	}
	defer s.Close()
	if u := s.Unsupported(); len(u) == len(nativeSpec.Events()) {
		t.Skipf("skipping: no event can be counted system-wide: %v", u[0].Reason())
	}
	first := readRows(t, s)
	checkHardwareRows(t, first)
	eventually(t, "every CPU's cpu-clock grows", func() bool {
		rows := readRows(t, s)
		for _, c := range cpus {
			k := labelKey([]Label{CPULabel(c)})
			if rowOf(t, rows, "cpu-clock", k).Value.Raw <= rowOf(t, first, "cpu-clock", k).Value.Raw {
				return false
			}
		}
		return true
	})
	n := 0
	for _, r := range readRows(t, s) {
		if r.Name() == "context-switches" {
			n++
			if len(r.Labels) != 1 || r.Labels[0].Name != LabelCPU || r.Err != nil {
				t.Errorf("context-switches row %+v, want a count labeled cpu", r)
			}
		}
	}
	if n != len(cpus) {
		t.Errorf("%d context-switches rows, want one per online CPU (%v)", n, cpus)
	}
}

func TestCgroupTarget(t *testing.T) {
	vtestutil.MustHavePerfEvent(t)
	dir := cgroupForTest(t)
	h := startThreads(t, 1)
	moveToCgroup(t, dir, h.cmd.Process.Pid)
	cg, err := NewCgroupTarget(perfevent.New(), nativeSpec, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	name := "/" + dir[strings.LastIndex(dir, "/")+1:]
	if info := cg.Info(); info.Kind != "cgroup" || labelKey(info.Labels) != labelKey([]Label{{"cgroup", name}}) {
		t.Errorf("info %s, want cgroup=%s", info, name)
	}
	first := readRows(t, cg)
	checkHardwareRows(t, first)
	for _, r := range first {
		if len(r.Labels) != 0 {
			t.Errorf("%s: labels %v, want none (summed over CPUs)", r.Name(), r.Labels)
		}
	}
	eventually(t, "the cgroup's task-clock grows", func() bool {
		return rowOf(t, readRows(t, cg), "task-clock", "").Value.Raw > rowOf(t, first, "task-clock", "").Value.Raw+1e7
	})
	// The relative form names the same cgroup.
	cg2, err := NewCgroupTarget(perfevent.New(), pmu.MustParseSpec("task-clock"), name)
	if err != nil {
		t.Fatal(err)
	}
	if cg2.Info().String() != cg.Info().String() {
		t.Errorf("relative path: %s, want %s", cg2.Info(), cg.Info())
	}
	cg2.Close()

	// The cgroup goes away: the counts are final.
	h.kill()
	eventuallyQuiet(func() bool { return os.Remove(dir) == nil })
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("cannot remove %s", dir)
	}
	for _, r := range readRows(t, cg) {
		if r.Err == nil {
			t.Errorf("%s: no error after the cgroup was removed", r.Name())
		}
	}
	if !cg.closed {
		t.Error("counters still open after the cgroup was removed")
	}
}

func TestNativeTargetErrors(t *testing.T) {
	vtestutil.MustHavePerfEvent(t)
	src := perfevent.New()
	// A reaped child's pid is free.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		open func() (interface{ Close() error }, error)
		want string
	}{
		{"no such process", func() (interface{ Close() error }, error) {
			return NewProcessTarget(src, nativeSpec, cmd.Process.Pid, ProcessOptions{})
		}, "no such file"},
		{"bad pid", func() (interface{ Close() error }, error) {
			return NewProcessTarget(src, nativeSpec, -3, ProcessOptions{})
		}, "must be positive"},
		{"no such cgroup", func() (interface{ Close() error }, error) {
			return NewCgroupTarget(src, nativeSpec, "vpmu-no-such-cgroup")
		}, "vpmu-no-such-cgroup"},
		{"not a cgroup", func() (interface{ Close() error }, error) {
			return NewCgroupTarget(src, nativeSpec, os.TempDir())
		}, "not in a cgroup hierarchy"},
		{"empty spec", func() (interface{ Close() error }, error) {
			return NewProcessTarget(src, pmu.Spec{}, os.Getpid(), ProcessOptions{})
		}, "no events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.open()
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestNativeLint lints the metrics of real targets, after two scrapes.
func TestNativeLint(t *testing.T) {
	vtestutil.MustHavePerfEvent(t)
	h := startThreads(t, 1)
	p, err := NewProcessTarget(perfevent.New(), nativeSpec, h.cmd.Process.Pid, ProcessOptions{PerThread: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	targets := []PromTarget{p}
	if s, err := NewSystemTarget(perfevent.New(), nativeSpec); err == nil {
		defer s.Close()
		targets = append(targets, s)
	}
	c := newTestCollector(t, targets...)
	for i := 0; i < 2; i++ {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range problems {
			t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
		}
	}
}
