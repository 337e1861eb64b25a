package virt

import (
	"testing"
)

// sampled is one sampling counter of a simulated thread and its ground
// truth: the thresholds its true count crossed.
type sampled struct {
	ti, k  int
	period uint64
	// base is the true count when the current thresholds started (the
	// last SetPeriod, or 0 after a reset); before counts the thresholds
	// crossed in earlier epochs.
	base, before uint64
	// delivered counts overflows the VMM took from the thread's pending
	// state and handed out as samples of thread ti.
	delivered uint64
}

// crossed returns how many thresholds the counter's true count crossed.
func (s *sampled) crossed(w *world) uint64 {
	truth := w.threads[s.ti].truth[s.k]
	if truth < s.base {
		panic("truth below the epoch's base")
	}
	return s.before + (truth-s.base)/s.period
}

// physOf returns the PhysFunc the VMM would read thread ti's counters
// with: its PCPU's while it runs in guest mode.
func (w *world) physOf(ti int) PhysFunc {
	st := w.threads[ti]
	if st.vcpu < 0 {
		return w.physOn(-1)
	}
	return w.physOn(w.vcpus[st.vcpu].pcpu)
}

// TestOverflowAttributionProperty drives random schedules of thread
// switches, VCPU switches, migrations, exits, tallies, enable, disable and
// reset, with sampling counters on every kind of source. Whenever the VMM
// has control of a VCPU it checks the thread there for overflows; it
// delivers pending overflows of random threads at random later times,
// after any number of switches, and sometimes changes a period. Every
// delivered overflow must be one the delivering thread's own true count
// crossed (delivered + pending never exceeds the thresholds crossed, at
// any step), and at the end, after a last check of every thread, each
// thread's delivered plus pending overflows equal its crossings exactly.
func TestOverflowAttributionProperty(t *testing.T) {
	n := *schedules
	if testing.Short() {
		n /= 10
	}
	var total, delayed, switchedBetween uint64
	for seed := range uint64(n) {
		w := newWorld(seed, 1+int(seed%3), 1+int(seed%4), 2+int(seed%8))
		var ss []*sampled
		for ti, st := range w.threads {
			for k := range st.open {
				if w.rng.IntN(2) == 0 {
					continue
				}
				period := 1 + w.rng.Uint64N(20)
				if st.src[k] != srcVMM {
					period = 1000 + w.rng.Uint64N(40000)
				}
				mustNil(st.t.SetPeriod(k, period, nil))
				ss = append(ss, &sampled{ti: ti, k: k, period: period})
			}
		}
		if len(ss) == 0 {
			continue
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d step %d: "+format, append([]any{seed, w.steps}, args...)...)
		}
		// switchesAt records each thread's page switch count when it
		// last had an overflow recorded, to tell delayed deliveries.
		switchesAt := map[*sampled]uint64{}
		deliver := func(s *sampled) {
			st := w.threads[s.ti]
			k := st.t.TakePending(s.k)
			if k == 0 {
				return
			}
			s.delivered += k
			if st.page.Switches != switchesAt[s] {
				switchedBetween += k
			}
			if s.delivered > s.crossed(w) {
				fail("thread %d slot %d: %d overflows delivered, its count crossed %d thresholds", s.ti, s.k, s.delivered, s.crossed(w))
			}
		}
		w.vmm = func(sv *simVCPU) {
			for _, s := range ss {
				if s.ti == sv.thread {
					if w.threads[s.ti].t.CheckOverflow(s.k, nil) > 0 {
						switchesAt[s] = w.threads[s.ti].page.Switches
					}
				}
			}
			for _, s := range ss {
				switch w.rng.IntN(6) {
				case 0:
					if s.ti != sv.thread && w.threads[s.ti].t.Pending(s.k) > 0 {
						delayed++
					}
					deliver(s)
				case 1:
					if w.rng.IntN(20) == 0 {
						// A new period: the old thresholds' crossings
						// stay, the new ones count from here.
						st := w.threads[s.ti]
						s.before = s.crossed(w)
						s.base = st.truth[s.k]
						s.period = 1 + w.rng.Uint64N(2*s.period)
						mustNil(st.t.SetPeriod(s.k, s.period, w.physOf(s.ti)))
					}
				}
			}
		}
		w.onReset = func(ti, k int) {
			for _, s := range ss {
				if s.ti == ti && s.k == k {
					s.before = s.crossed(w)
					s.base = 0
				}
			}
		}
		for range 300 {
			w.step()
			for _, s := range ss {
				if got, max := s.delivered+w.threads[s.ti].t.Pending(s.k), s.crossed(w); got > max {
					fail("thread %d slot %d: %d overflows recorded, its count crossed %d thresholds", s.ti, s.k, got, max)
				}
			}
		}
		for _, s := range ss {
			st := w.threads[s.ti]
			st.t.CheckOverflow(s.k, w.physOf(s.ti))
			deliver(s)
			if s.delivered != s.crossed(w) {
				fail("thread %d slot %d (source %d, period %d): %d overflows, its count (%d) crossed %d thresholds",
					s.ti, s.k, st.src[s.k], s.period, s.delivered, st.truth[s.k], s.crossed(w))
			}
			total += s.delivered
		}
	}
	if total == 0 || delayed == 0 || switchedBetween == 0 {
		t.Fatalf("schedules exercised %d overflows, %d delivered off their thread's VCPU, %d after a switch; all must be nonzero",
			total, delayed, switchedBetween)
	}
	t.Logf("%d schedules: %d overflows, %d delivered while another thread ran, %d after a switch of their thread",
		n, total, delayed, switchedBetween)
}

// TestOverflowThresholds checks the threshold arithmetic on one thread:
// several thresholds crossed at once, a retuned period, a reset, and a
// counter that does not sample.
func TestOverflowThresholds(t *testing.T) {
	var vp VCPUPage
	v := NewVCPU(&vp, 0)
	mustNil(v.SetSource(0, SourceVMM, 64, 0))
	var tp ThreadPage
	th := NewThread(&tp, 0x1000, 1, 0x2000)
	mustNil(th.Open(0, 0, 1, true, nil))
	mustNil(th.Open(1, 0, 1, true, nil))
	th.SwitchIn(v, nil)
	v.Add(0, 5)
	mustNil(th.SetPeriod(0, 10, nil)) // thresholds at 15, 25, ...
	steps := []struct {
		add     uint64
		crossed uint64
		rem     uint64
	}{
		{9, 0, 1},  // 14
		{1, 1, 10}, // 15: the first threshold
		{25, 2, 5}, // 40: 25 and 35 at once
		{4, 0, 1},  // 44
	}
	for i, s := range steps {
		v.Add(0, s.add)
		if k := th.CheckOverflow(0, nil); k != s.crossed {
			t.Fatalf("step %d: %d crossed, want %d", i, k, s.crossed)
		}
		if r, ok := th.Remaining(0, nil); !ok || r != s.rem {
			t.Fatalf("step %d: remaining %d %v, want %d", i, r, ok, s.rem)
		}
	}
	if p := th.TakePending(0); p != 3 {
		t.Fatalf("pending %d, want 3", p)
	}
	// Retune: the next threshold is the last (35) plus 4 = 39, passed.
	mustNil(th.Retune(0, 4))
	if k := th.CheckOverflow(0, nil); k != 2 { // 39 and 43
		t.Fatalf("after retune: %d crossed, want 2", k)
	}
	// A reset counts what was crossed, then thresholds start from 0.
	v.Add(0, 3) // 47: crosses 47
	mustNil(th.Reset(0, nil))
	if p := th.TakePending(0); p != 3 {
		t.Fatalf("pending across the reset %d, want 3", p)
	}
	v.Add(0, 4)
	if k := th.CheckOverflow(0, nil); k != 1 {
		t.Fatalf("after reset: %d crossed, want 1", k)
	}
	if k := th.CheckOverflow(1, nil); k != 0 || th.Pending(1) != 0 {
		t.Fatal("a counter without a period overflowed")
	}
	if _, ok := th.Remaining(1, nil); ok {
		t.Fatal("Remaining of a counter without a period")
	}
	if err := th.Retune(1, 5); err == nil {
		t.Fatal("Retune of a counter without a period succeeded")
	}
	mustNil(th.Close(0))
	if th.Period(0) != 0 || th.Pending(0) != 0 {
		t.Fatal("Close kept the sampling state")
	}

	// The largest period never wraps its threshold; a larger one is
	// refused, as perf refuses periods from 2^63 on.
	mustNil(th.SetPeriod(1, MaxPeriod, nil))
	v.Add(0, 1000)
	if k := th.CheckOverflow(1, nil); k != 0 {
		t.Fatalf("period 2^63-1: %d overflows after 1000 events", k)
	}
	if r, ok := th.Remaining(1, nil); !ok || r != MaxPeriod-1000 {
		t.Fatalf("period 2^63-1: remaining %d %v", r, ok)
	}
	if err := th.SetPeriod(1, MaxPeriod+1, nil); err == nil {
		t.Fatal("period 2^63 accepted")
	}
	if err := th.Retune(1, MaxPeriod+1); err == nil {
		t.Fatal("retune to 2^63 accepted")
	}
	// A disabled counter does not move: it has nothing remaining to
	// wait for (the VMM's sample clock must not arm for it).
	mustNil(th.Disable(1, nil))
	if _, ok := th.Remaining(1, nil); ok {
		t.Fatal("Remaining of a disabled counter")
	}
}
