package simpmu

import (
	"fmt"
	"math/bits"
	"sort"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// Step delivers occurrences of events on cpu, at once and in the CPU's
// current task, mode and guest state: deltas[k] occurrences of each Key.
// Every counter programmed with k whose modifiers allow the current state
// counts them; the ground truth records them all.
func (s *Sim) Step(cpu int, deltas map[Key]uint64) {
	defer s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpu(cpu)
	for _, k := range sortedKeys(deltas) {
		s.deliver(cpu, k, deltas[k])
	}
}

// Advance delivers n occurrences of k on cpu; see Step.
func (s *Sim) Advance(cpu int, k Key, n uint64) {
	defer s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpu(cpu)
	s.deliver(cpu, k, n)
}

// SetRate makes cpu produce perSecond occurrences of k per simulated
// second while simulated time elapses (Elapse, Tick), whatever task runs.
// A rate of 0 stops it. Fractions carry over exactly between calls.
func (s *Sim) SetRate(cpu int, k Key, perSecond uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cpu(cpu)
	if perSecond == 0 {
		delete(c.rates, k)
		return
	}
	c.rates[k] = perSecond
}

// Elapse advances simulated time by d: every CPU produces its rates, and
// the enabled and running times of the counters grow. Nothing is
// rescheduled. d must not be negative, and d times a rate must stay below
// 2^64 seconds' worth of occurrences.
func (s *Sim) Elapse(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("simpmu: Elapse(%v): negative duration", d))
	}
	defer s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.elapse(d)
}

func (s *Sim) elapse(d time.Duration) {
	const nsPerSec = uint64(time.Second)
	for cpu, c := range s.cpus {
		for _, k := range sortedKeys(c.rates) {
			hi, lo := bits.Mul64(uint64(d), c.rates[k])
			var carry uint64
			lo, carry = bits.Add64(lo, c.rateRem[k], 0)
			hi += carry
			if hi >= nsPerSec {
				panic(fmt.Sprintf("simpmu: Elapse(%v) at %d/s of %v overflows 64 bits", d, c.rates[k], k))
			}
			n, rem := bits.Div64(hi, lo, nsPerSec)
			c.rateRem[k] = rem
			s.deliver(cpu, k, n)
		}
	}
	s.account(d)
	s.now += d
}

// Rotate rotates the multiplexed groups of every CPU that could not
// schedule all of its groups, without letting time pass.
func (s *Sim) Rotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate()
}

// Tick lets Config.TickInterval of simulated time elapse and then rotates
// multiplexed groups: one period of the kernel's multiplexing timer.
func (s *Sim) Tick() {
	defer s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.elapse(s.cfg.TickInterval)
	s.rotate()
}

// deliver records n occurrences of k on cpu and counts them.
func (s *Sim) deliver(cpu int, k Key, n uint64) {
	if n == 0 {
		return
	}
	c := s.cpus[cpu]
	c.truth[truthKey{pid: c.task, key: k, mode: c.mode, guest: c.guest}] += n
	for idx, e := range c.assigned {
		if e == nil || e.key != k || excluded(e.ev.Exclude, c.mode, c.guest, c.task == Idle) {
			continue
		}
		e.count += n
		lo, hi := bits.Add64(c.phys[idx], n, 0)
		var wraps uint64
		if w := s.cfg.Width; w == 64 {
			wraps = hi
		} else {
			wraps = hi<<(64-w) | lo>>w
		}
		c.phys[idx] = lo & s.mask
		if wraps > 0 {
			s.pending = append(s.pending, Overflow{CPU: cpu, Counter: idx, Event: e.ev, Wraps: wraps})
		}
	}
	for _, g := range s.groups {
		if g.active != cpu {
			continue
		}
		for _, e := range g.events {
			if e.counter < 0 && e.key == k && isSoftware(e.ev) && !excluded(e.ev.Exclude, c.mode, c.guest, c.task == Idle) {
				e.count += n
			}
		}
	}
}

// excluded reports whether an event with exclude bits x ignores an
// occurrence in the given state.
func excluded(x pmu.Exclude, m Mode, guest, idle bool) bool {
	switch {
	case m == ModeUser && x&pmu.ExcludeUser != 0,
		m == ModeKernel && x&pmu.ExcludeKernel != 0,
		m == ModeHypervisor && x&pmu.ExcludeHV != 0,
		guest && x&pmu.ExcludeGuest != 0,
		!guest && x&pmu.ExcludeHost != 0,
		idle && x&pmu.ExcludeIdle != 0:
		return true
	}
	return false
}

// TaskTruth returns how many occurrences of k were delivered while task
// pid ran, on any CPU, leaving out those an event with exclude bits ex
// would not count. It is the ground truth a counter on the task should
// report (or estimate, when multiplexed).
func (s *Sim) TaskTruth(pid int, k Key, ex pmu.Exclude) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, c := range s.cpus {
		for tk, v := range c.truth {
			if tk.pid == pid && tk.key == k && !excluded(ex, tk.mode, tk.guest, pid == Idle) {
				n += v
			}
		}
	}
	return n
}

// CPUTruth returns how many occurrences of k were delivered on cpu,
// whatever ran, leaving out those an event with exclude bits ex would not
// count: the ground truth of a CPU-wide counter.
func (s *Sim) CPUTruth(cpu int, k Key, ex pmu.Exclude) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for tk, v := range s.cpu(cpu).truth {
		if tk.key == k && !excluded(ex, tk.mode, tk.guest, tk.pid == Idle) {
			n += v
		}
	}
	return n
}

// sortedKeys returns the keys of m in a fixed order, so that deliveries
// and overflow reports are deterministic.
func sortedKeys(m map[Key]uint64) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		switch {
		case a.Virtual != b.Virtual:
			return !a.Virtual
		case a.Type != b.Type:
			return a.Type < b.Type
		case a.Config != b.Config:
			return a.Config < b.Config
		case a.Config1 != b.Config1:
			return a.Config1 < b.Config1
		}
		return a.Config2 < b.Config2
	})
	return keys
}
