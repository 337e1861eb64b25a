package guestlib

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vpmu/vpmu/pmu/virt"
)

// skewTicks bounds how far back guest time may appear between two reads
// when the writer runs concurrently on another core.
const skewTicks = 2000

const (
	testSrcTSC = 0
	testSrcVMM = 1
)

// testPages is a thread page and its VCPU pages in ordinary host memory,
// written by the same virt.VCPU/virt.Thread code the hypervisor uses, with
// the host TSC as the physical time source.
type testPages struct {
	vcpus  [virt.MaxVCPUs]virt.VCPUPage
	tp     virt.ThreadPage
	v      [2]*virt.VCPU
	thread *virt.Thread
}

func physTSC(int, *virt.SourceSlot) uint64 { return rdtsc() }

func newTestPages(t testing.TB) *testPages {
	p := new(testPages)
	for i := range p.v {
		p.v[i] = virt.NewVCPU(&p.vcpus[i], uint32(i))
		if err := p.v[i].SetSource(testSrcTSC, virt.SourceTSC, 64, 0); err != nil {
			t.Fatal(err)
		}
		if err := p.v[i].SetSource(testSrcVMM, virt.SourceVMM, 64, 0); err != nil {
			t.Fatal(err)
		}
	}
	p.thread = virt.NewThread(&p.tp, 0x1000, 7, 0x2000)
	for k, src := range []int{testSrcTSC, testSrcVMM, testSrcVMM, testSrcTSC} {
		if err := p.thread.Open(k, src, uint64(k), true, physTSC); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *testPages) set() pageSet { return pageSet{tp: &p.tp, vcpus: &p.vcpus} }

// TestReadSlotsConcurrent runs the tuned reader against a writer that
// enters and leaves guest mode, counts tallies and moves the thread
// between two VCPUs, on real goroutines (run with -race too). Every read
// of a tally must lie between the tallies completed before it began and
// those started before it ended; time never goes backwards.
func TestReadSlotsConcurrent(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two CPUs for a concurrent writer")
	}
	p := newTestPages(t)
	var started, done atomic.Uint64 // tallies begun and finished by the writer
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cur := 0
		p.thread.SwitchIn(p.v[cur], physTSC)
		for i := 0; !stop.Load(); i++ {
			v := p.v[cur]
			v.Enter(uint32(cur), physTSC)
			// Guest work: about 10 µs, long enough for many reads even
			// under the race detector.
			for t0 := rdtsc(); rdtsc()-t0 < 25000; {
			}
			v.Exit(physTSC)
			started.Add(1)
			v.Add(testSrcVMM, 1)
			done.Add(1)
			if i%7 == 0 { // migrate the thread to the other VCPU
				p.thread.SwitchOut(physTSC)
				cur ^= 1
				p.thread.SwitchIn(p.v[cur], physTSC)
			}
		}
	}()
	slots := []int32{0, 1, 2, 3}
	vals := make([]uint64, 4)
	var last0, last3 uint64
	contended := 0
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for i := 0; i-contended < n || done.Load() < 2000; i++ {
		lo := done.Load()
		if _, _, _, err := p.set().readSlots(slots, vals); err != nil {
			// The host may preempt the writer goroutine mid-write for
			// longer than the reader spins; a guest reader cannot see
			// that, because its writer only runs while it is out.
			// Under load that can happen often; it says nothing about
			// the values, so the read is simply not counted.
			if errors.Is(err, virt.ErrContended) {
				contended++
				runtime.Gosched()
				continue
			}
			t.Fatal(err)
		}
		hi := started.Load()
		for _, k := range []int{1, 2} {
			if vals[k] < lo || vals[k] > hi {
				t.Fatalf("tally slot %d = %d, outside [%d, %d]", k, vals[k], lo, hi)
			}
		}
		// Here the writer runs on another core at the same time, which a
		// guest reader never sees (its VCPU's page changes only while the
		// guest is out): unfenced rdtsc and cross-core TSC skew may show
		// time a few ticks back, never more.
		if vals[0]+skewTicks < last0 || vals[3]+skewTicks < last3 {
			t.Fatalf("guest time went backwards: %d after %d, %d after %d", vals[0], last0, vals[3], last3)
		}
		last0, last3 = max(last0, vals[0]), max(last3, vals[3])
	}
	stop.Store(true)
	wg.Wait()
	if last0 == 0 {
		t.Fatal("guest time never advanced")
	}
}

// BenchmarkReadSlots4 is the direct read of a group of four counters
// (two time-based, two tallies) with the thread in guest mode: the cost of
// guestlib's fast path without the GS-relative page lookup.
func BenchmarkReadSlots4(b *testing.B) {
	p := newTestPages(b)
	p.thread.SwitchIn(p.v[0], physTSC)
	p.v[0].Enter(0, physTSC)
	ps := p.set()
	slots := []int32{0, 1, 2, 3}
	vals := make([]uint64, 4)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := ps.readSlots(slots, vals); err != nil {
			b.Fatal(err)
		}
	}
}
