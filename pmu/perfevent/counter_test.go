package perfevent

import (
	"errors"
	"runtime"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

func TestCountSoftwareGroupOnThisThread(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	c, err := New().OpenCounter(swGroup(), pmu.Target{PID: 0, CPU: -1, Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.GroupRead() {
		t.Fatal("group opened without PERF_FORMAT_GROUP")
	}

	before, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range before {
		if v.Raw != 0 || v.Running != 0 {
			t.Errorf("disabled counter counted: %+v", v)
		}
	}
	if err := c.Enable(); err != nil {
		t.Fatal(err)
	}
	const pages, sleeps = 2000, 20
	touchPages(t, pages)
	sleepSwitches(sleeps)
	spin(1e6)
	if err := c.Disable(); err != nil {
		t.Fatal(err)
	}
	vals, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 4 {
		t.Fatalf("got %d values, want 4", len(vals))
	}
	seen := map[uint64]bool{}
	for i, v := range vals {
		if v.Event.Name != swGroup().Events[i].Name {
			t.Errorf("value %d is %s, want group order", i, v.Event.Name)
		}
		if v.ID == 0 || v.ID != c.IDs()[i] || seen[v.ID] {
			t.Errorf("value %d id %d, ids %v", i, v.ID, c.IDs())
		}
		seen[v.ID] = true
		// Software events are never multiplexed: a group snapshot has
		// one enabled and running time, equal to each other.
		if v.Enabled != vals[0].Enabled || v.Running != vals[0].Running || v.Enabled != v.Running || v.Running == 0 {
			t.Errorf("%s: enabled %v running %v, leader %v/%v", v.Event.Name, v.Enabled, v.Running, vals[0].Enabled, vals[0].Running)
		}
	}
	if pf := valueOf(t, vals, "page-faults").Raw; pf < pages || pf > pages+200 {
		t.Errorf("page-faults = %d, want %d (+ runtime noise < 200)", pf, pages)
	}
	if cs := valueOf(t, vals, "context-switches").Raw; cs < sleeps {
		t.Errorf("context-switches = %d, want >= %d", cs, sleeps)
	}
	// task-clock counts nanoseconds of this thread's CPU time; it cannot
	// exceed the time the counter was enabled.
	tc := valueOf(t, vals, "task-clock")
	if tc.Raw == 0 || tc.Raw > uint64(tc.Enabled)+1000 {
		t.Errorf("task-clock = %d ns over enabled %v", tc.Raw, tc.Enabled)
	}

	// Disabled: nothing moves.
	touchPages(t, 100)
	again, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if again[1].Raw != vals[1].Raw {
		t.Errorf("page-faults moved while disabled: %d -> %d", vals[1].Raw, again[1].Raw)
	}
	// Reset zeroes the counts (not the times).
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	reset, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range reset {
		if v.Raw != 0 {
			t.Errorf("%s = %d after reset", v.Event.Name, v.Raw)
		}
	}
	if st := c.Stats(); st.Syscall != 4 || st.UserPage != 0 || st.Last != PathSyscall {
		t.Errorf("stats %+v, want 4 read(2) reads", st)
	}
}

func TestCounterCloseIdempotent(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	c, err := New().OpenCounter(swGroup(), pmu.ThisThread)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Read(); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if err := c.Enable(); !errors.Is(err, ErrClosed) {
		t.Errorf("Enable after Close: %v, want ErrClosed", err)
	}
}

// TestCountOtherThread counts a thread other than the caller's by tid.
func TestCountOtherThread(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	tidc, done := make(chan int), make(chan struct{})
	worked := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tidc <- unix.Gettid()
		<-done
		touchPagesRaw(500)
		close(worked)
		<-done
	}()
	tid := <-tidc
	c, err := New().OpenCounter(pmu.Group{Events: []pmu.Event{evPageFaults}}, pmu.Target{PID: tid, CPU: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	touchPages(t, 300) // the caller's faults must not count
	done <- struct{}{}
	<-worked
	vals, err := c.Read()
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	if pf := vals[0].Raw; pf < 500 || pf > 600 {
		t.Errorf("page-faults of thread %d = %d, want 500 (+ noise < 100)", tid, pf)
	}
}

// TestCountCPU counts everything on CPU 0 (needs CAP_PERFMON or
// perf_event_paranoid <= 0).
func TestCountCPU(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	c, err := New().OpenCounter(pmu.Group{Events: []pmu.Event{evCPUClock, evCtxSwitches}}, pmu.Target{PID: -1, CPU: 0})
	var ns *pmu.NotSupportedError
	if errors.As(err, &ns) && errors.Is(err, unix.EACCES) {
		t.Skipf("no permission for CPU-wide counting: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetaffinity(0, cpuSet(0)); err != nil {
		t.Fatal(err)
	}
	sleepSwitches(10)
	vals, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Raw == 0 || vals[1].Raw < 10 {
		t.Errorf("cpu 0: cpu-clock %d ns, context-switches %d; want > 0 and >= 10", vals[0].Raw, vals[1].Raw)
	}
	all := cpuSet(-1)
	unix.SchedSetaffinity(0, all)
}

func cpuSet(cpu int) *unix.CPUSet {
	var s unix.CPUSet
	if cpu < 0 {
		for i := 0; i < runtime.NumCPU(); i++ {
			s.Set(i)
		}
		return &s
	}
	s.Set(cpu)
	return &s
}

// TestInheritGroupFallback simulates a kernel that refuses
// PERF_FORMAT_GROUP with inherit: the group is reopened with per-event
// reads, and the values are still right.
func TestInheritGroupFallback(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	refused := 0
	open := func(a *unix.PerfEventAttr, pid, cpu, groupFD, flags int) (int, error) {
		if a.Bits&unix.PerfBitInherit != 0 && a.Read_format&unix.PERF_FORMAT_GROUP != 0 {
			refused++
			return -1, unix.EINVAL
		}
		return unix.PerfEventOpen(a, pid, cpu, groupFD, flags)
	}
	c, err := New(withOpen(open)).OpenCounter(swGroup(), pmu.Target{PID: 0, CPU: -1, Inherit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if refused != 1 || c.GroupRead() {
		t.Fatalf("refused %d opens, GroupRead %v; want 1 refusal and per-event reads", refused, c.GroupRead())
	}
	touchPages(t, 1000)
	vals, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if pf := valueOf(t, vals, "page-faults").Raw; pf < 1000 || pf > 1200 {
		t.Errorf("page-faults = %d, want 1000 (+ noise)", pf)
	}
	for i, v := range vals {
		if v.ID != c.IDs()[i] || v.Running == 0 {
			t.Errorf("value %d: %+v", i, v)
		}
	}
}

// TestInheritGroupAcceptedHere records that this kernel accepts
// inherit with PERF_FORMAT_GROUP (so the fallback above is not taken).
func TestInheritGroupAcceptedHere(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	c, err := New().OpenCounter(swGroup(), pmu.Target{PID: 0, CPU: -1, Inherit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("inherit with PERF_FORMAT_GROUP accepted: %v", c.GroupRead())
}

func TestProbe(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	s := New()
	if err := s.Probe(evTaskClock); err != nil {
		t.Errorf("Probe(task-clock): %v", err)
	}
	err := s.Probe(evSyscalls)
	var ns *pmu.NotSupportedError
	if !errors.As(err, &ns) || ns.Reason != pmu.ReasonVirtualOnly {
		t.Errorf("Probe(syscalls) = %v, want not supported: %s", err, pmu.ReasonVirtualOnly)
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    pmu.Group
		t    pmu.Target
	}{
		{"empty group", pmu.Group{}, pmu.ThisThread},
		{"no thread no cpu", swGroup(), pmu.Target{PID: -1, CPU: -1}},
		{"negative pid", swGroup(), pmu.Target{PID: -5, CPU: -1}},
		{"inherit on cpu", swGroup(), pmu.Target{PID: -1, CPU: 0, Inherit: true}},
		{"precise 4", pmu.Group{Events: []pmu.Event{{Name: "x", Kind: pmu.KindSoftware, Type: 1, Precise: 4}}}, pmu.ThisThread},
		{"no kind", pmu.Group{Events: []pmu.Event{{Name: "x"}}}, pmu.ThisThread},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(withOpen(func(*unix.PerfEventAttr, int, int, int, int) (int, error) {
				t.Fatal("perf_event_open reached")
				return -1, nil
			})).OpenCounter(tc.g, tc.t)
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			t.Log(err)
		})
	}
}

// TestGroupMembersCountFromOpen guards the members-first enable order:
// every member of a group on the calling thread must count from Open (or
// Enable), with no context switch in between, whatever PMU the leader
// belongs to.
func TestGroupMembersCountFromOpen(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	for _, leader := range []pmu.Event{evTaskClock, evCPUClock, evCtxSwitches, evPageFaults} {
		for _, disabled := range []bool{false, true} {
			g := pmu.Group{Events: []pmu.Event{leader, evPageFaults, evTaskClock}}
			c, err := New().OpenCounter(g, pmu.Target{PID: 0, CPU: -1, Disabled: disabled})
			if err != nil {
				t.Fatal(err)
			}
			if disabled {
				if err := c.Enable(); err != nil {
					t.Fatal(err)
				}
			}
			touchPagesRaw(200)
			vals, err := c.Read()
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if pf := vals[1].Raw; pf < 200 {
				t.Errorf("leader %s, disabled %v: member page-faults = %d, want >= 200", leader.Name, disabled, pf)
			}
			if tc := vals[2].Raw; tc == 0 {
				t.Errorf("leader %s, disabled %v: member task-clock = 0", leader.Name, disabled)
			}
		}
	}
}

// TestCountHardware needs a hardware PMU: instructions of a known loop.
func TestCountHardware(t *testing.T) {
	testutil.MustHaveHardwarePMU(t)
	lockThread(t)
	c, err := New().OpenCounter(pmu.Group{Events: []pmu.Event{evInstructions, evCycles}}, pmu.Target{PID: 0, CPU: -1, Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Enable()
	spin(1e6) // at least 6 instructions per iteration (3 shifts, 3 xors)
	c.Disable()
	vals, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := vals[0].Scaled(); !ok || n < 6e6 {
		t.Errorf("instructions %+v, want >= 6e6", vals[0])
	}
	if !vals[1].Counted() || vals[1].Raw == 0 {
		t.Errorf("cycles %+v", vals[1])
	}
}

// TestPreciseMax lowers precise_ip until the (simulated) PMU accepts it.
func TestPreciseMax(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	var tried []uint8
	open := func(a *unix.PerfEventAttr, pid, cpu, groupFD, flags int) (int, error) {
		p := preciseOf(a.Bits)
		tried = append(tried, p)
		if p > 1 {
			return -1, unix.EOPNOTSUPP
		}
		return unix.PerfEventOpen(a, pid, cpu, groupFD, flags)
	}
	e := evTaskClock
	e.Modifiers, e.PreciseMax = "P", true
	c, err := New(withOpen(open)).OpenCounter(pmu.Group{Events: []pmu.Event{e, evPageFaults}}, pmu.ThisThread)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.PreciseIP(); len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Errorf("precise_ip %v, want [1 0]", got)
	}
	if len(tried) != 4 || tried[0] != 3 || tried[1] != 2 || tried[2] != 1 {
		t.Errorf("tried %v, want 3, 2, 1 for the leader then 0 for the member", tried)
	}
	// Without :P a refused level is an error, not silently lowered.
	e.PreciseMax, e.Precise, e.Modifiers = false, 2, "pp"
	if c2, err := New(withOpen(open)).OpenCounter(pmu.Group{Events: []pmu.Event{e}}, pmu.ThisThread); err == nil {
		c2.Close()
		t.Error("precise 2 on a PMU that refuses it opened")
	}
}
