package simpmu_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/simpmu"
)

var _ pmu.Source = (*simpmu.Sim)(nil)
var _ pmu.Prober = (*simpmu.Sim)(nil)

func TestEnableDisableResetClose(t *testing.T) {
	s := newSim(t, simpmu.Config{})
	a := s.NewTask()
	s.Schedule(0, a)
	c := open(t, s, "{instructions,cycles}", pmu.Target{PID: a, CPU: -1, Disabled: true})[0]

	s.Step(0, map[simpmu.Key]uint64{kInstr: 5, kCycles: 9})
	s.Elapse(time.Millisecond)
	if v := read(t, c); v[0].Raw != 0 || v[0].Enabled != 0 || v[0].Counted() {
		t.Fatalf("disabled counter: %+v", v[0])
	}
	if err := c.Enable(); err != nil {
		t.Fatal(err)
	}
	s.Step(0, map[simpmu.Key]uint64{kInstr: 5, kCycles: 9})
	s.Elapse(time.Millisecond)
	if err := c.Disable(); err != nil {
		t.Fatal(err)
	}
	s.Step(0, map[simpmu.Key]uint64{kInstr: 100})
	s.Elapse(time.Millisecond)
	v := read(t, c)
	if v[0].Raw != 5 || v[1].Raw != 9 || v[0].Enabled != time.Millisecond || v[1].Running != time.Millisecond {
		t.Fatalf("after enable/disable: %+v", v)
	}
	if v[0].Event.Name != "instructions" || v[1].Event.Name != "cycles" {
		t.Errorf("values out of group order: %v, %v", v[0].Event, v[1].Event)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if v := read(t, c); v[0].Raw != 0 || v[1].Raw != 0 || v[0].Enabled != time.Millisecond {
		t.Fatalf("Reset must zero counts and keep times: %+v", v)
	}
	c.Enable()
	s.Advance(0, kInstr, 3)
	if got := raw(t, c); got != 3 {
		t.Errorf("after reset and enable: %d, want 3", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, f := range map[string]func() error{
		"Read": func() error { _, err := c.Read(); return err }, "Enable": c.Enable, "Disable": c.Disable, "Reset": c.Reset,
	} {
		if err := f(); !errors.Is(err, simpmu.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	for i := 0; i < s.Counters(); i++ {
		if e, ok := s.CounterEvent(0, i); ok {
			t.Errorf("counter %d still holds %s after Close", i, e)
		}
	}
	if got := c.Group().String(); got != "{instructions,cycles}" {
		t.Errorf("Group() = %s", got)
	}
}

func TestCloseFreesCounters(t *testing.T) {
	s := newSim(t, simpmu.Config{Counters: 1})
	cs := open(t, s, "{cycles,task-clock},instructions,branches", cpuWide(0))
	held := func() string {
		e, ok := s.CounterEvent(0, 0)
		if !ok {
			return "-"
		}
		return e.Name
	}
	if held() != "cycles" {
		t.Fatalf("counter 0 holds %s", held())
	}
	cs[0].Close() // the active group
	if held() != "instructions" {
		t.Errorf("after closing the active group: %s, want instructions", held())
	}
	cs[2].Close() // a waiting group: nothing changes
	if held() != "instructions" {
		t.Errorf("after closing a waiting group: %s", held())
	}
	cs[1].Close()
	if held() != "-" {
		t.Errorf("after closing all: %s", held())
	}
}

func TestCloseWaitingGroupUnblocks(t *testing.T) {
	s := newSim(t, simpmu.Config{Counters: 2})
	cs := open(t, s, "cycles,{instructions,branches},branch-misses", cpuWide(0))
	if _, ok := s.CounterEvent(0, 1); ok {
		t.Fatal("branch-misses scheduled behind a group that did not fit")
	}
	cs[1].Close()
	if e, ok := s.CounterEvent(0, 1); !ok || e.Name != "branch-misses" {
		t.Errorf("after closing the blocking group, counter 1 holds %v, %v", e, ok)
	}
}

func TestNotSupported(t *testing.T) {
	s := newSim(t, simpmu.Config{Unsupported: map[simpmu.Key]string{kMisses: pmu.ReasonNoHardwarePMU}})
	g := pmu.MustParseSpec("{instructions,branch-misses:u}").Groups[0]
	_, err := s.Open(g, cpuWide(0))
	var nse *pmu.NotSupportedError
	if !errors.Is(err, pmu.ErrNotSupported) || !errors.As(err, &nse) {
		t.Fatalf("Open error = %v, want NotSupportedError", err)
	}
	if nse.Event != "branch-misses:u" || nse.Reason != pmu.ReasonNoHardwarePMU {
		t.Errorf("NotSupportedError = %+v", nse)
	}
	if err := s.Probe(g.Events[1]); !errors.Is(err, pmu.ErrNotSupported) {
		t.Errorf("Probe(branch-misses) = %v", err)
	}
	if err := s.Probe(g.Events[0]); err != nil {
		t.Errorf("Probe(instructions) = %v", err)
	}
	if _, err := s.Open(pmu.MustParseSpec("cycles").Groups[0], pmu.Target{PID: -1, CPU: 0, Inherit: true}); !errors.Is(err, pmu.ErrNotSupported) {
		t.Errorf("Open with Inherit: %v, want not supported", err)
	}
}

func TestOpenTargetErrors(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 2, Counters: 2})
	g := pmu.MustParseSpec("cycles").Groups[0]
	for _, tc := range []struct {
		g      pmu.Group
		target pmu.Target
		msg    string
	}{
		{g, pmu.ThisThread, "PID 0"},
		{g, pmu.Target{PID: -1, CPU: -1}, "needs a CPU"},
		{g, pmu.Target{PID: -1, CPU: 2}, "out of range"},
		{g, pmu.Target{PID: 99, CPU: -1}, "does not exist"},
		{g, pmu.Target{PID: -5, CPU: 0}, "bad target PID"},
		{pmu.Group{}, cpuWide(0), "empty group"},
		{pmu.MustParseSpec("{cycles,instructions,branches}").Groups[0], cpuWide(0), "3 hardware events for 2 counters"},
	} {
		if _, err := s.Open(tc.g, tc.target); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Open(%s, %+v) error = %v, want %q", tc.g, tc.target, err, tc.msg)
		}
	}
	// Software events do not count against the counters.
	if _, err := s.Open(pmu.MustParseSpec("{cycles,instructions,task-clock,cs}").Groups[0], cpuWide(0)); err != nil {
		t.Errorf("open with software members: %v", err)
	}
	if _, err := simpmu.New(simpmu.Config{Width: 65}); err == nil {
		t.Error("New accepted width 65")
	}
	if _, err := simpmu.New(simpmu.Config{Counters: 2, Constraints: map[simpmu.Key]uint64{kCycles: 0b100}}); err == nil {
		t.Error("New accepted a constraint outside the counters")
	}
	if err := s.Schedule(0, 42); err == nil {
		t.Error("scheduled a task that does not exist")
	}
}

func TestMigrationAndCPUTargets(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 2})
	a := s.NewTask()
	any := open(t, s, "instructions", onTask(a))[0]
	on1 := open(t, s, "instructions", pmu.Target{PID: a, CPU: 1})[0]
	cpu1 := open(t, s, "instructions", cpuWide(1))[0]

	s.Schedule(0, a)
	s.Advance(0, kInstr, 10)
	s.Elapse(time.Millisecond)
	if err := s.Schedule(1, a); err == nil {
		t.Fatal("a task ran on two CPUs at once")
	}
	s.Schedule(0, simpmu.Idle)
	if err := s.Schedule(1, a); err != nil {
		t.Fatal(err)
	}
	s.Advance(1, kInstr, 20)
	s.Elapse(time.Millisecond)
	s.Advance(0, kInstr, 1000) // CPU 0 runs nothing of a's

	if got := raw(t, any); got != 30 {
		t.Errorf("task counter = %d, want 30", got)
	}
	if v := read(t, on1)[0]; v.Raw != 20 || v.Enabled != time.Millisecond {
		t.Errorf("task-on-CPU-1 counter = %d enabled %v, want 20 and 1ms", v.Raw, v.Enabled)
	}
	if v := read(t, cpu1)[0]; v.Raw != 20 || v.Enabled != 2*time.Millisecond {
		t.Errorf("CPU 1 counter = %d enabled %v, want 20 and 2ms", v.Raw, v.Enabled)
	}
	if s.Running(1) != a || s.Running(0) != simpmu.Idle {
		t.Errorf("Running = %d, %d", s.Running(0), s.Running(1))
	}
}

func TestEnableOnExec(t *testing.T) {
	s := newSim(t, simpmu.Config{})
	a := s.NewTask()
	s.Schedule(0, a)
	c := open(t, s, "instructions", pmu.Target{PID: a, CPU: -1, EnableOnExec: true})[0]
	s.Advance(0, kInstr, 50) // the launcher's own work
	if err := s.Exec(a); err != nil {
		t.Fatal(err)
	}
	s.Advance(0, kInstr, 7)
	if got := raw(t, c); got != 7 {
		t.Errorf("count = %d, want 7 (only after exec)", got)
	}
	if err := s.Exec(99); err == nil {
		t.Error("Exec of a missing task succeeded")
	}
}

func TestSysfsScale(t *testing.T) {
	s := newSim(t, simpmu.Config{Counters: 1})
	e := pmu.Event{Name: "uncore_imc_0/cas_count_read/", Kind: pmu.KindPMU, Type: 16, Config: 0x304, Unit: "MiB", Scale: 6.103515625e-5}
	c, err := s.Open(pmu.Group{Events: []pmu.Event{e}}, cpuWide(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	open(t, s, "cycles", cpuWide(0))          // competes for the one counter
	s.SetRate(0, simpmu.KeyOf(e), 16384*1000) // 16384 lines of 64 B = 1 MiB per ms
	s.Tick()                                  // e runs, cycles waits
	s.Tick()                                  // cycles runs
	v := read(t, c)[0]
	got, ok := v.Scaled()
	if !ok || got != 8*float64(0.0625)*16 {
		t.Errorf("scaled = %v MiB (raw %d, %v/%v), want 8 MiB", got, v.Raw, v.Running, v.Enabled)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 2, Counters: 2})
	cs := open(t, s, "cycles,instructions,branches", cpuWide(0))
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := c.Read(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 200 {
		s.Advance(i%2, kCycles, 3)
		s.Tick()
	}
	wg.Wait()
	if got := s.CPUTruth(0, kCycles, 0); got != 300 {
		t.Errorf("truth = %d", got)
	}
}
