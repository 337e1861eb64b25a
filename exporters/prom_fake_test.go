package exporters

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// fakeTarget returns scripted readings: the i-th Read returns reads[i]
// (the last one repeats) or errs[i] when set. It records whether two
// Reads ever overlapped.
type fakeTarget struct {
	info  PromTargetInfo
	reads [][]Row
	errs  map[int]error

	mu      sync.Mutex
	n       int
	busy    atomic.Bool
	overlap atomic.Bool
	delay   time.Duration
}

func (f *fakeTarget) Info() PromTargetInfo { return f.info }

func (f *fakeTarget) Read(ctx context.Context) ([]Row, error) {
	if !f.busy.CompareAndSwap(false, true) {
		f.overlap.Store(true)
	}
	defer f.busy.Store(false)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	i := f.n
	f.n++
	f.mu.Unlock()
	if err := f.errs[i]; err != nil {
		return nil, err
	}
	if i >= len(f.reads) {
		i = len(f.reads) - 1
	}
	return f.reads[i], nil
}

// reading returns a row of event e with the given labels and times in
// milliseconds.
func reading(e pmu.Event, labels []Label, raw uint64, enabledMS, runningMS int) Row {
	return Row{Labels: labels, Value: pmu.Value{Event: e, Raw: raw, Enabled: time.Duration(enabledMS) * time.Millisecond, Running: time.Duration(runningMS) * time.Millisecond}}
}

func notSupported(e pmu.Event, labels []Label) Row {
	return Row{Labels: labels, Value: pmu.Value{Event: e}, Err: &pmu.NotSupportedError{Event: e.String(), Reason: pmu.ReasonNoHardwarePMU, Err: syscall.ENOENT}}
}

func exited(r Row) Row {
	r.Err = ErrTargetExited
	return r
}

// vmTarget is shaped like the vpmu hypervisor's VM targets: identity
// {vm}, rows per VCPU. Over two reads, VCPU 0 has a counter that runs
// all the time (task-clock), one the kernel multiplexes (instructions),
// one that starts starved and then runs (cycles), one that stays starved
// (cache-misses), and one not supported (branch-misses); VCPU 1 never
// ran (idle, exact zero counts).
func vmTarget() *fakeTarget {
	v0, v1 := []Label{VCPULabel(0)}, []Label{VCPULabel(1)}
	return &fakeTarget{
		info: PromTargetInfo{Kind: "vm", Labels: []Label{{"vm", "demo"}}},
		reads: [][]Row{
			{
				reading(evTaskClock, v0, 10_000_000, 10, 10),
				reading(evInsns, v0, 1000, 10, 5),
				reading(evCycles, v0, 0, 10, 0),
				reading(evCacheMisses, v0, 0, 10, 0),
				notSupported(evBrMisses, v0),
				reading(evTaskClock, v1, 0, 0, 0),
			},
			{
				reading(evTaskClock, v0, 20_000_000, 20, 20),
				// Δ: 900 events in 9 of 10 ms: +1000.
				reading(evInsns, v0, 1900, 20, 14),
				// Ran 5 ms of the 20 enabled: the 10 starved ms count.
				reading(evCycles, v0, 500, 20, 5),
				reading(evCacheMisses, v0, 0, 20, 0),
				notSupported(evBrMisses, v0),
				reading(evTaskClock, v1, 0, 0, 0),
			},
		},
	}
}

// processTarget is shaped like a per-thread ProcessTarget whose process
// exited between the two reads.
func processTarget() *fakeTarget {
	th := ThreadLabels(4242, "worker")
	return &fakeTarget{
		info: PromTargetInfo{Kind: "process", Labels: []Label{{"pid", "4242"}}},
		reads: [][]Row{
			{reading(evPageFaults, th, 100, 5, 5)},
			{exited(reading(evPageFaults, th, 150, 7, 7))},
		},
	}
}

// tickClock is a clock that advances 1 ms per call.
func tickClock() func() time.Time {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
}
