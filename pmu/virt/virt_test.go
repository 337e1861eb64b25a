package virt

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"testing"
)

var schedules = flag.Int("virt.schedules", 4000, "random schedules per property test")

// TestVMMViewProperty drives random schedules of thread switches, VCPU
// switches, migrations, VM exits, tallies and counter control, and checks
// after every step that every thread's logical counters, as the VMM
// computes them, equal ground truth exactly.
func TestVMMViewProperty(t *testing.T) {
	n := *schedules
	if testing.Short() {
		n /= 10
	}
	var steps, migrations, switches int
	for seed := range uint64(n) {
		w := newWorld(seed, 1+int(seed%3), 1+int(seed%4), 1+int(seed%9))
		w.check = func(format string, args ...any) {
			t.Fatalf("seed %d: "+format, append([]any{seed}, args...)...)
		}
		for range 200 {
			w.step()
		}
		steps += w.steps
		migrations += w.migrations
		switches += w.switches
	}
	if migrations == 0 || switches == 0 {
		t.Fatalf("schedules exercised %d migrations and %d thread switches; both must be nonzero", migrations, switches)
	}
	t.Logf("%d schedules, %d steps, %d thread switches, %d migrations", n, steps, switches, migrations)
}

// TestReadProperty runs the guest read algorithm with random scheduling
// steps between every two of its loads: every completed read must equal
// ground truth at the moment of its physical read, exactly.
func TestReadProperty(t *testing.T) {
	n := *schedules
	if testing.Short() {
		n /= 10
	}
	var reads, retried, retries int
	for seed := range uint64(n) {
		w := newWorld(seed, 1+int(seed%3), 1+int(seed%4), 1+int(seed%9))
		for range 50 {
			w.step()
		}
		for range 5 {
			r := w.rng.IntN(len(w.threads))
			st := w.threads[r]
			var slots []int
			for k := range st.open {
				if w.rng.IntN(2) == 0 {
					slots = append(slots, k)
				}
			}
			if len(slots) == 0 {
				slots = []int{0}
			}
			env := &readerEnv{w: w, reader: r, every: []int{4, 16, 64, 256, 1024}[seed%5]}
			out := make([]Reading, len(slots))
			nr, err := Read(env, st.page, slots, out)
			if err != nil {
				t.Fatalf("seed %d: read: %v", seed, err)
			}
			reads++
			retries += nr
			if nr > 0 {
				retried++
			}
			// The last attempt made one physical read per enabled slot with
			// a physical source, in slot order.
			var physSlots int
			for i, k := range slots {
				if st.src[k] != srcVMM && out[i].Enabled {
					physSlots++
				}
			}
			if len(env.snaps) < physSlots {
				t.Fatalf("seed %d: %d physical reads for %d slots", seed, len(env.snaps), physSlots)
			}
			snaps := env.snaps[len(env.snaps)-physSlots:]
			for i, k := range slots {
				want := env.atSeq[k] // sources without a physical part
				if src := st.src[k]; src != srcVMM && out[i].Enabled {
					if snaps[0].src != src {
						t.Fatalf("seed %d: slot %d of source %d matched a physical read of source %d", seed, k, src, snaps[0].src)
					}
					want = snaps[0].truth[k]
					snaps = snaps[1:]
				}
				if out[i].Value != want {
					t.Fatalf("seed %d: thread %d slot %d (source %d, enabled %v): read %d, truth %d (after %d retries)",
						seed, r, k, st.src[k], out[i].Enabled, out[i].Value, want, nr)
				}
				if out[i].Event != uint64(1000+k) {
					t.Fatalf("seed %d: slot %d event %d", seed, k, out[i].Event)
				}
			}
		}
	}
	if retried == 0 {
		t.Fatalf("%d reads, none retried: the schedules never raced a reader", reads)
	}
	t.Logf("%d reads, %d needed retries (%d retries in all)", reads, retried, retries)
}

// directEnv reads pages with no interleaving, as a host-side reader does.
type directEnv struct {
	pages []VCPUPage
	phys  func(kind SourceKind, index uint32) uint64
}

func (e directEnv) Load32(p *uint32) uint32 { return *p }
func (e directEnv) Load64(p *uint64) uint64 { return *p }
func (e directEnv) Phys(kind SourceKind, index uint32) uint64 {
	return e.phys(kind, index)
}
func (e directEnv) VCPUPage(base uint64, id uint32) (*VCPUPage, error) {
	if int(id) >= len(e.pages) {
		return nil, fmt.Errorf("no VCPU %d", id)
	}
	return &e.pages[id], nil
}

// TestReadOffVCPU checks host-side reads of threads that are not running:
// the value is the thread's sum, with no physical read.
func TestReadOffVCPU(t *testing.T) {
	w := newWorld(7, 2, 2, 6)
	for range 500 {
		w.step()
	}
	env := directEnv{pages: w.vpages, phys: func(SourceKind, uint32) uint64 {
		t.Fatal("physical read for a thread that is not running")
		return 0
	}}
	for i, st := range w.threads {
		if st.vcpu >= 0 {
			sv := w.vcpus[st.vcpu]
			if sv.v.InGuest() {
				w.exit(sv)
			}
			st.t.SwitchOut(w.physOn(sv.pcpu))
			st.vcpu, sv.thread = -1, -1
		}
		slots := make([]int, st.open)
		for k := range slots {
			slots[k] = k
		}
		out := make([]Reading, len(slots))
		if _, err := Read(env, st.page, slots, out); err != nil {
			t.Fatal(err)
		}
		for k := range slots {
			if out[k].Value != st.truth[k] {
				t.Errorf("thread %d slot %d: read %d, truth %d", i, k, out[k].Value, st.truth[k])
			}
		}
	}
}

func TestReadErrors(t *testing.T) {
	var vp VCPUPage
	v := NewVCPU(&vp, 0)
	var tp ThreadPage
	th := NewThread(&tp, 0x1000, 1, vcpuBase)
	if err := th.Open(0, 0, 1, true, nil); err != nil {
		t.Fatal(err)
	}
	th.SwitchIn(v, nil)
	env := directEnv{pages: []VCPUPage{vp}}
	out := make([]Reading, 1)

	if _, err := Read(env, &tp, []int{MaxCounters}, out); err == nil {
		t.Error("slot out of range: no error")
	}
	if _, err := Read(env, &tp, []int{0, 1}, out); err == nil {
		t.Error("short output: no error")
	}
	tp.Version = 99
	if _, err := Read(env, &tp, []int{0}, out); !errors.Is(err, ErrVersion) {
		t.Errorf("version 99: err = %v, want ErrVersion", err)
	}
	tp.Version = ABIVersion
	tp.Seq |= 1 // a writer that never finishes
	if n, err := Read(env, &tp, []int{0}, out); !errors.Is(err, ErrContended) || n != MaxRetries {
		t.Errorf("stuck page: %d retries, err = %v, want ErrContended", n, err)
	}
	tp.Seq++
	tp.VCPU = 5
	if _, err := Read(env, &tp, []int{0}, out); err == nil {
		t.Error("VCPU 5 of 1: no error")
	}
}

func TestControlErrors(t *testing.T) {
	var vp VCPUPage
	v := NewVCPU(&vp, 3)
	if err := v.SetSource(MaxSources, SourceTSC, 64, 0); err == nil {
		t.Error("source out of range accepted")
	}
	v.Enter(0, func(int, *SourceSlot) uint64 { return 0 })
	if err := v.SetSource(0, SourceTSC, 64, 0); err == nil {
		t.Error("source configured in guest mode")
	}
	var tp ThreadPage
	th := NewThread(&tp, 0, 1, 0)
	for _, err := range []error{
		th.Open(-1, 0, 0, true, nil), th.Open(0, MaxSources, 0, true, nil),
		th.Enable(MaxCounters, nil), th.Disable(-1, nil), th.Reset(99, nil), th.Close(16),
	} {
		if err == nil {
			t.Error("out-of-range slot accepted")
		}
	}
	if _, err := th.Value(MaxCounters, nil); err == nil {
		t.Error("Value of slot out of range accepted")
	}
}

func TestCloseShrinks(t *testing.T) {
	var tp ThreadPage
	th := NewThread(&tp, 0, 1, 0)
	for i := range 3 {
		mustNil(th.Open(i, 0, uint64(i+1), false, nil))
	}
	mustNil(th.Close(2))
	mustNil(th.Close(0))
	if tp.NCounters != 2 {
		t.Errorf("NCounters after closing slots 2 and 0 = %d, want 2", tp.NCounters)
	}
	mustNil(th.Close(1))
	if tp.NCounters != 0 {
		t.Errorf("NCounters after closing all = %d, want 0", tp.NCounters)
	}
	if tp.Seq&1 != 0 {
		t.Errorf("seq %d is odd after writes finished", tp.Seq)
	}
}

func TestTicksToNanos(t *testing.T) {
	// 2.5 GHz: ns = ticks * 0.4 = ticks * (0.4*2^32) >> 32, checked
	// against exact big-integer arithmetic.
	mult, shift := uint32(math.Round(0.4*(1<<32))), uint32(32)
	for _, ticks := range []uint64{0, 10, 2_500_000_000, 1 << 40, math.MaxUint64} {
		want := new(big.Int).Mul(new(big.Int).SetUint64(ticks), big.NewInt(int64(mult)))
		want.Rsh(want, uint(shift))
		if got := TicksToNanos(ticks, mult, shift); got != want.Uint64() {
			t.Errorf("TicksToNanos(%d) = %d, want %d", ticks, got, want.Uint64())
		}
	}
	if got := TicksToNanos(2_500_000_000, mult, shift); got < 999_999_999 || got > 1_000_000_000 {
		t.Errorf("one second of 2.5 GHz ticks = %d ns", got)
	}
	if got := TicksToNanos(123, 1, 0); got != 123 {
		t.Errorf("shift 0: %d", got)
	}
	if got := TicksToNanos(1<<40, 1<<20, 60); got != 1 {
		t.Errorf("shift 60: %d, want 1", got)
	}
}

func TestMask(t *testing.T) {
	if mask(^uint64(0), 48) != 1<<48-1 || mask(5, 0) != 5 || mask(^uint64(0), 64) != ^uint64(0) {
		t.Error("mask")
	}
}
