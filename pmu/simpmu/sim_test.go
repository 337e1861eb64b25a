package simpmu_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/simpmu"
)

var (
	kCycles   = simpmu.MustKey("cycles")
	kInstr    = simpmu.MustKey("instructions")
	kBranches = simpmu.MustKey("branches")
	kMisses   = simpmu.MustKey("branch-misses")
	kTaskClk  = simpmu.MustKey("task-clock")
	kSyscalls = simpmu.MustKey("syscalls")
)

func newSim(t testing.TB, cfg simpmu.Config) *simpmu.Sim {
	t.Helper()
	s, err := simpmu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// open opens each group of spec on target and returns one counter per
// group.
func open(t testing.TB, s *simpmu.Sim, spec string, target pmu.Target) []pmu.Counter {
	t.Helper()
	sp, err := pmu.ParseSpec(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cs []pmu.Counter
	for _, g := range sp.Groups {
		c, err := s.Open(g, target)
		if err != nil {
			t.Fatalf("Open(%s): %v", g, err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

func read(t testing.TB, c pmu.Counter) []pmu.Value {
	t.Helper()
	v, err := c.Read()
	if err != nil {
		t.Fatalf("Read(%s): %v", c.Group(), err)
	}
	return v
}

func raw(t testing.TB, c pmu.Counter) uint64 { return read(t, c)[0].Raw }

func cpuWide(cpu int) pmu.Target { return pmu.Target{PID: -1, CPU: cpu} }
func onTask(pid int) pmu.Target  { return pmu.Target{PID: pid, CPU: -1} }

func TestKeyOf(t *testing.T) {
	if kCycles == kInstr || kSyscalls == kInstr {
		t.Fatalf("keys collide: cycles %v, instructions %v, syscalls %v", kCycles, kInstr, kSyscalls)
	}
	if simpmu.MustKey("cycles:u") != kCycles || simpmu.MustKey("cpu-cycles") != kCycles {
		t.Error("modifiers or aliases change the key")
	}
	if got := kSyscalls.String(); got != "virtual:syscalls" {
		t.Errorf("String() = %q", got)
	}
	if got := simpmu.MustKey("r1c2").String(); got != "4:0x1c2" {
		t.Errorf("String() = %q", got)
	}
}

func TestTaskCountsOnlyWhileRunning(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 2})
	a, b := s.NewTask(), s.NewTask()
	ca := open(t, s, "instructions", onTask(a))[0]
	cb := open(t, s, "instructions", onTask(b))[0]

	s.Advance(0, kInstr, 7) // idle CPU: nobody's
	if err := s.Schedule(0, a); err != nil {
		t.Fatal(err)
	}
	s.Advance(0, kInstr, 100)
	s.Elapse(3 * time.Millisecond)
	if err := s.Schedule(0, b); err != nil {
		t.Fatal(err)
	}
	s.Step(0, map[simpmu.Key]uint64{kInstr: 40, kCycles: 1000})
	s.Elapse(time.Millisecond)
	if err := s.Schedule(0, simpmu.Idle); err != nil {
		t.Fatal(err)
	}
	s.Advance(0, kInstr, 5)
	s.Elapse(time.Millisecond)

	va, vb := read(t, ca)[0], read(t, cb)[0]
	if va.Raw != 100 || vb.Raw != 40 {
		t.Errorf("counts a=%d b=%d, want 100 40", va.Raw, vb.Raw)
	}
	if va.Enabled != 3*time.Millisecond || va.Running != 3*time.Millisecond || vb.Enabled != time.Millisecond {
		t.Errorf("times a=%v/%v b=%v/%v", va.Enabled, va.Running, vb.Enabled, vb.Running)
	}
	if got := s.TaskTruth(a, kInstr, 0); got != 100 {
		t.Errorf("TaskTruth(a) = %d", got)
	}
	if got := s.CPUTruth(0, kInstr, 0); got != 152 {
		t.Errorf("CPUTruth = %d, want 152", got)
	}
	if got := s.CPUTruth(0, kInstr, pmu.ExcludeIdle); got != 140 {
		t.Errorf("CPUTruth without idle = %d, want 140", got)
	}
	if va.ID == 0 || va.ID == vb.ID {
		t.Errorf("IDs %d %d", va.ID, vb.ID)
	}
}

func TestExcludeModes(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 1, Counters: 8})
	a := s.NewTask()
	specs := []string{"instructions", "instructions:u", "instructions:k", "instructions:h", "instructions:G", "instructions:H", "instructions:uk"}
	cs := open(t, s, strings.Join(specs, ","), onTask(a))
	idle := open(t, s, "instructions:I", cpuWide(0))[0]
	if err := s.Schedule(0, a); err != nil {
		t.Fatal(err)
	}
	s.Advance(0, kInstr, 1) // user, host
	s.SetMode(0, simpmu.ModeKernel)
	s.Advance(0, kInstr, 10)
	s.SetMode(0, simpmu.ModeHypervisor)
	s.Advance(0, kInstr, 100)
	s.SetMode(0, simpmu.ModeUser)
	s.SetGuest(0, true)
	s.Advance(0, kInstr, 1000)
	s.Schedule(0, simpmu.Idle)
	s.Advance(0, kInstr, 10000)

	want := []uint64{1111, 1001, 10, 100, 1000, 111, 1011}
	for i, c := range cs {
		ev := c.Group().Events[0]
		if got := raw(t, c); got != want[i] {
			t.Errorf("%s = %d, want %d", ev, got, want[i])
		}
		if got := s.TaskTruth(a, kInstr, ev.Exclude); got != want[i] {
			t.Errorf("TaskTruth(%s) = %d, want %d", ev, got, want[i])
		}
	}
	if got := raw(t, idle); got != 1111 {
		t.Errorf("instructions:I (CPU-wide) = %d, want 1111", got)
	}
}

// TestMultiplexRoundRobin follows the kernel's rotation with three events
// on two counters and checks that scaling recovers the exact truth under
// constant rates.
func TestMultiplexRoundRobin(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 1, Counters: 2})
	cs := open(t, s, "cycles,instructions,branches", cpuWide(0))
	s.SetRate(0, kCycles, 1_000_000_000)
	s.SetRate(0, kInstr, 2_000_000_000)
	s.SetRate(0, kBranches, 500_000_000)

	onCounters := func() string {
		var names []string
		for i := 0; i < 2; i++ {
			e, ok := s.CounterEvent(0, i)
			if !ok {
				names = append(names, "-")
				continue
			}
			names = append(names, e.Name)
		}
		return strings.Join(names, ",")
	}
	// cycles and instructions first; each tick moves the first active
	// group to the back.
	for i, want := range []string{"cycles,instructions", "instructions,branches", "branches,cycles", "cycles,instructions"} {
		if got := onCounters(); got != want {
			t.Errorf("after %d ticks, counters hold %s, want %s", i, got, want)
		}
		if i < 3 {
			s.Tick()
		}
	}
	for _, c := range cs {
		v := read(t, c)[0]
		k := simpmu.KeyOf(v.Event)
		truth := s.CPUTruth(0, k, 0)
		if v.Enabled != 12*time.Millisecond || v.Running != 8*time.Millisecond {
			t.Errorf("%s: enabled %v running %v, want 12ms 8ms", v.Event, v.Enabled, v.Running)
		}
		scaled, ok := v.Scaled()
		if !ok || scaled != float64(truth) {
			t.Errorf("%s: raw %d scaled %v, truth %d", v.Event, v.Raw, scaled, truth)
		}
		if v.Raw*3 != truth*2 {
			t.Errorf("%s: raw %d, want 2/3 of %d", v.Event, v.Raw, truth)
		}
	}
}

func TestGroupsAllOrNothing(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 1, Counters: 3})
	cs := open(t, s, "{cycles,instructions},{branches,branch-misses},r1c2", cpuWide(0))
	// The second group does not fit in the one free counter, and as in the
	// kernel nothing after the first failure is scheduled: r1c2 waits too.
	s.Tick()
	running := func() []time.Duration {
		var out []time.Duration
		for _, c := range cs {
			out = append(out, read(t, c)[0].Running)
		}
		return out
	}
	if got := running(); got[0] != 4*time.Millisecond || got[1] != 0 || got[2] != 0 {
		t.Fatalf("running after one tick = %v, want [4ms 0 0]", got)
	}
	s.Tick() // now {branches,branch-misses} and r1c2
	if got := running(); got[0] != 4*time.Millisecond || got[1] != 4*time.Millisecond || got[2] != 4*time.Millisecond {
		t.Fatalf("running after two ticks = %v, want [4ms 4ms 4ms]", got)
	}
	v := read(t, cs[1])
	if v[0].Running != v[1].Running || v[0].Enabled != v[1].Enabled {
		t.Errorf("group members disagree: %+v", v)
	}
}

func TestSoftwareEventsNeedNoCounter(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 1, Counters: 1})
	a := s.NewTask()
	cs := open(t, s, "cycles,instructions,task-clock", onTask(a))
	s.Schedule(0, a)
	s.SetRate(0, kTaskClk, uint64(time.Second)) // 1 per ns
	for range 4 {
		s.Tick()
	}
	v := read(t, cs[2])[0]
	if v.Running != 16*time.Millisecond || v.Raw != uint64(16*time.Millisecond) {
		t.Errorf("task-clock = %d, running %v; want always running", v.Raw, v.Running)
	}
	if r := read(t, cs[0])[0].Running + read(t, cs[1])[0].Running; r != 16*time.Millisecond {
		t.Errorf("cycles and instructions shared %v of the one counter, want 16ms", r)
	}
}

func TestPinned(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 1, Counters: 3})
	cs := open(t, s, "{cycles,instructions}:D,{branches,branch-misses}:D,r1c2", cpuWide(0))
	s.Tick()
	if _, err := cs[1].Read(); !errors.Is(err, simpmu.ErrPinned) {
		t.Fatalf("second pinned group Read error = %v, want ErrPinned", err)
	}
	if v := read(t, cs[2])[0]; v.Running != 4*time.Millisecond {
		t.Errorf("r1c2 running %v, want the free counter all the time", v.Running)
	}
	if v := read(t, cs[0])[0]; v.Running != 4*time.Millisecond {
		t.Errorf("pinned group running %v", v.Running)
	}
	// The error state lasts until the group is enabled again.
	cs[0].Close()
	s.Tick()
	if _, err := cs[1].Read(); !errors.Is(err, simpmu.ErrPinned) {
		t.Fatalf("after Close of the first: %v, want still ErrPinned", err)
	}
	if err := cs[1].Enable(); err != nil {
		t.Fatal(err)
	}
	s.Advance(0, kBranches, 9)
	if got := raw(t, cs[1]); got != 9 {
		t.Errorf("re-enabled pinned group counted %d, want 9", got)
	}
}

func TestConstraints(t *testing.T) {
	s := newSim(t, simpmu.Config{CPUs: 1, Counters: 4, Constraints: map[simpmu.Key]uint64{kCycles: 0b0001, kInstr: 0b0011}})
	cs := open(t, s, "{instructions,cycles},branches", cpuWide(0))
	// The most constrained event is placed first.
	if e, _ := s.CounterEvent(0, 0); e.Name != "cycles" {
		t.Errorf("counter 0 holds %q, want cycles", e.Name)
	}
	if e, _ := s.CounterEvent(0, 1); e.Name != "instructions" {
		t.Errorf("counter 1 holds %q, want instructions", e.Name)
	}
	if e, _ := s.CounterEvent(0, 2); e.Name != "branches" {
		t.Errorf("counter 2 holds %q, want branches", e.Name)
	}
	// Two events that both need counter 0 multiplex on a 4-counter PMU.
	// Tick 1: {instructions,cycles} and branches run. Tick 2: branches
	// (rotated first) took counter 0, so the new cycles does not fit and
	// stops the rest. Tick 3: the new cycles runs alone.
	cs2 := open(t, s, "cycles", cpuWide(0))
	for range 3 {
		s.Tick()
	}
	a, b, c := read(t, cs[0])[1], read(t, cs2[0])[0], read(t, cs[1])[0]
	if a.Running != 4*time.Millisecond || b.Running != 4*time.Millisecond || c.Running != 8*time.Millisecond {
		t.Errorf("running: group cycles %v, second cycles %v, branches %v; want 4ms 4ms 8ms", a.Running, b.Running, c.Running)
	}
	if _, err := s.Open(pmu.MustParseSpec("{cycles,cycles}").Groups[0], cpuWide(0)); err == nil {
		t.Error("opened a group that cannot satisfy its constraints")
	}
}

func TestCountersWrap(t *testing.T) {
	var overflows []simpmu.Overflow
	s := newSim(t, simpmu.Config{CPUs: 1, Counters: 2, Width: 8, Seed: 42, OnOverflow: func(o simpmu.Overflow) {
		overflows = append(overflows, o)
	}})
	start := s.ReadPhys(0, 0)
	c := open(t, s, "cycles", cpuWide(0))[0]
	var delivered uint64
	for _, n := range []uint64{1000, 1, 255, 256, 1 << 40} {
		s.Advance(0, kCycles, n)
		delivered += n
	}
	if got := raw(t, c); got != delivered {
		t.Errorf("count = %d, want %d", got, delivered)
	}
	if got, want := s.ReadPhys(0, 0), (start+delivered)%256; got != want {
		t.Errorf("ReadPhys = %d, want %d", got, want)
	}
	var wraps uint64
	for _, o := range overflows {
		if o.CPU != 0 || o.Counter != 0 || o.Event.Name != "cycles" {
			t.Errorf("overflow %+v", o)
		}
		wraps += o.Wraps
	}
	if want := (start + delivered) / 256; wraps != want {
		t.Errorf("%d wraps reported, want %d", wraps, want)
	}
	if s.ReadPhys(0, 1) == 0 {
		t.Log("seeded counter 1 happens to be 0")
	}
}

func TestWidth64(t *testing.T) {
	var wraps uint64
	s := newSim(t, simpmu.Config{Width: 64, Seed: 7, OnOverflow: func(o simpmu.Overflow) { wraps += o.Wraps }})
	start := s.ReadPhys(0, 0)
	c := open(t, s, "cycles", cpuWide(0))[0]
	s.Advance(0, kCycles, ^uint64(0)-start+1) // exactly to 2^64
	if s.ReadPhys(0, 0) != 0 || wraps != 1 || raw(t, c) != ^uint64(0)-start+1 {
		t.Errorf("phys %d wraps %d raw %d", s.ReadPhys(0, 0), wraps, raw(t, c))
	}
}

func TestSeedDeterminism(t *testing.T) {
	phys := func(seed uint64) []uint64 {
		s := newSim(t, simpmu.Config{CPUs: 2, Counters: 4, Seed: seed})
		var out []uint64
		for cpu := 0; cpu < 2; cpu++ {
			for i := 0; i < 4; i++ {
				out = append(out, s.ReadPhys(cpu, i))
			}
		}
		return out
	}
	a, b, c, z := phys(1), phys(1), phys(2), phys(0)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different counters: %v %v", a, b)
		}
		if a[i] >= 1<<48 {
			t.Fatalf("counter %#x wider than 48 bits", a[i])
		}
		if z[i] != 0 {
			t.Fatalf("seed 0: counters %v, want zeros", z)
		}
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("different seeds, same counters")
	}
}
