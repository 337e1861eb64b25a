package simpmu_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/simpmu"
)

// world is a simulation under random driving, with the counters opened on
// it.
type world struct {
	s       *simpmu.Sim
	rng     *rand.Rand
	tasks   []int
	perTask map[int]pmu.Counter // {instructions:<mods>,cycles} on each task
	perCPU  []pmu.Counter       // {instructions:<mods>,cycles} on each CPU
	physAt  []uint64            // counter 0 of each CPU when perCPU was opened
}

var modChoices = []string{"", "u", "k", "h", "uk", "G", "H", "I", "uH", "kG"}

// randomGroup returns {instructions[:mods],cycles} with random modifiers.
func randomGroup(r *rand.Rand) string {
	if m := modChoices[r.IntN(len(modChoices))]; m != "" {
		return "{instructions:" + m + ",cycles}"
	}
	return "{instructions,cycles}"
}

func newWorld(t *testing.T, seed uint64, counters int) *world {
	w := &world{rng: rand.New(rand.NewPCG(seed, 1)), perTask: map[int]pmu.Counter{}}
	w.s = newSim(t, simpmu.Config{CPUs: 3, Counters: counters, Width: 12, Seed: seed})
	for cpu := 0; cpu < 3; cpu++ {
		w.physAt = append(w.physAt, w.s.ReadPhys(cpu, 0))
		w.perCPU = append(w.perCPU, open(t, w.s, randomGroup(w.rng), cpuWide(cpu))[0])
	}
	for range 4 {
		pid := w.s.NewTask()
		w.tasks = append(w.tasks, pid)
		w.perTask[pid] = open(t, w.s, randomGroup(w.rng), onTask(pid))[0]
	}
	return w
}

// step does one random thing to the simulation.
func (w *world) step(t *testing.T) {
	s, r := w.s, w.rng
	cpu := r.IntN(3)
	switch r.IntN(8) {
	case 0: // context switch, possibly migrating
		pid := simpmu.Idle
		if r.IntN(4) > 0 {
			pid = w.tasks[r.IntN(len(w.tasks))]
		}
		for c := 0; c < 3; c++ {
			if c != cpu && s.Running(c) == pid && pid != simpmu.Idle {
				if err := s.Schedule(c, simpmu.Idle); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Schedule(cpu, pid); err != nil {
			t.Fatal(err)
		}
	case 1:
		s.SetMode(cpu, simpmu.Mode(r.IntN(3)))
	case 2:
		s.SetGuest(cpu, r.IntN(2) == 0)
	case 3:
		s.SetRate(cpu, kInstr, uint64(r.IntN(4))*1_000_000_000)
		s.SetRate(cpu, kCycles, uint64(r.IntN(5))*500_000_000)
	case 4:
		s.Elapse(time.Duration(r.IntN(5000)))
	case 5:
		s.Tick()
	default:
		s.Step(cpu, map[simpmu.Key]uint64{kInstr: uint64(r.IntN(10000)), kCycles: uint64(r.IntN(30000)), kBranches: uint64(r.IntN(100))})
	}
}

// TestPropertyExact drives random schedules with enough counters that
// nothing is multiplexed: every counter must equal the ground truth
// exactly, run all the time it is enabled, and the raw physical counters
// must agree with the counts modulo 2^Width.
func TestPropertyExact(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newWorld(t, seed, 4) // at most 2 CPU-wide + 2 task events per CPU
			for i := range 400 {
				w.step(t)
				if i%50 == 49 {
					w.checkExact(t)
				}
			}
			w.checkExact(t)
		})
	}
}

func (w *world) checkExact(t *testing.T) {
	t.Helper()
	for pid, c := range w.perTask {
		v := read(t, c)
		if want := w.s.TaskTruth(pid, kInstr, v[0].Event.Exclude); v[0].Raw != want {
			t.Fatalf("task %d %s = %d, truth %d", pid, v[0].Event, v[0].Raw, want)
		}
		if want := w.s.TaskTruth(pid, kCycles, 0); v[1].Raw != want {
			t.Fatalf("task %d cycles = %d, truth %d", pid, v[1].Raw, want)
		}
		if v[0].Enabled != v[0].Running {
			t.Fatalf("task %d: enabled %v running %v without multiplexing", pid, v[0].Enabled, v[0].Running)
		}
	}
	for cpu, c := range w.perCPU {
		v := read(t, c)
		if want := w.s.CPUTruth(cpu, kInstr, v[0].Event.Exclude); v[0].Raw != want {
			t.Fatalf("CPU %d %s = %d, truth %d", cpu, v[0].Event, v[0].Raw, want)
		}
		if want := w.s.CPUTruth(cpu, kCycles, 0); v[1].Raw != want {
			t.Fatalf("CPU %d cycles = %d, truth %d", cpu, v[1].Raw, want)
		}
		if v[0].Enabled != w.s.Now() || v[0].Running != w.s.Now() {
			t.Fatalf("CPU %d: enabled %v running %v, want %v", cpu, v[0].Enabled, v[0].Running, w.s.Now())
		}
		// The CPU-wide group was opened first, so it always holds counter 0.
		mask := uint64(1)<<w.s.Width() - 1
		if got, want := w.s.ReadPhys(cpu, 0), (w.physAt[cpu]+v[0].Raw)&mask; got != want {
			t.Fatalf("CPU %d: phys %d, want start %d + %d mod 2^%d", cpu, got, w.physAt[cpu], v[0].Raw, w.s.Width())
		}
	}
}

// TestPropertyMultiplexed drives the same random schedules on too few
// counters: counts may only fall short of the truth, and a counter never
// runs longer than it is enabled.
func TestPropertyMultiplexed(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		w := newWorld(t, seed, 2)
		for range 400 {
			w.step(t)
		}
		check := func(name string, v []pmu.Value, truthI, truthC uint64) {
			if v[0].Raw > truthI || v[1].Raw > truthC {
				t.Fatalf("seed %d %s: counts %d, %d above truth %d, %d", seed, name, v[0].Raw, v[1].Raw, truthI, truthC)
			}
			if v[0].Running > v[0].Enabled || v[0].Running != v[1].Running || v[0].Enabled != v[1].Enabled {
				t.Fatalf("seed %d %s: times %+v", seed, name, v)
			}
		}
		for pid, c := range w.perTask {
			v := read(t, c)
			check(fmt.Sprint("task ", pid), v, w.s.TaskTruth(pid, kInstr, v[0].Event.Exclude), w.s.TaskTruth(pid, kCycles, 0))
		}
		for cpu, c := range w.perCPU {
			v := read(t, c)
			check(fmt.Sprint("CPU ", cpu), v, w.s.CPUTruth(cpu, kInstr, v[0].Event.Exclude), w.s.CPUTruth(cpu, kCycles, 0))
		}
	}
}

// TestPropertyScaledExact multiplexes a random number of events on two
// counters under constant rates (whole counts per tick): the scaled value
// of every event that ran must equal the truth exactly.
func TestPropertyScaledExact(t *testing.T) {
	keys := []string{"cycles", "instructions", "branches", "branch-misses", "cache-misses", "cache-references", "bus-cycles"}
	for seed := uint64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		s := newSim(t, simpmu.Config{Counters: 2})
		n := 3 + r.IntN(len(keys)-2)
		var cs []pmu.Counter
		for _, name := range keys[:n] {
			cs = append(cs, open(t, s, name, cpuWide(0))[0])
			s.SetRate(0, simpmu.MustKey(name), uint64(1+r.IntN(5000))*1000)
		}
		ticks := n + r.IntN(20)
		for range ticks {
			s.Tick()
		}
		for _, c := range cs {
			v := read(t, c)[0]
			truth := s.CPUTruth(0, simpmu.KeyOf(v.Event), 0)
			if v.Enabled != time.Duration(ticks)*simpmu.DefaultTickInterval {
				t.Fatalf("seed %d %s: enabled %v after %d ticks", seed, v.Event, v.Enabled, ticks)
			}
			got, ok := v.Scaled()
			if !ok || got != float64(truth) {
				t.Fatalf("seed %d %s (%d events, %d ticks): raw %d running %v scaled %v, truth %d",
					seed, v.Event, n, ticks, v.Raw, v.Running, got, truth)
			}
		}
	}
}
