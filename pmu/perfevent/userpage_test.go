package perfevent

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

const (
	fakeShift = 10
	fakeMult  = 411 // ~0.4 ns per cycle
	fakeWidth = 48
	fakeMask  = 1<<fakeWidth - 1
)

// fakeKernel simulates one counter, its hardware register and the kernel
// that writes its user page, one field at a time. Every load the read
// loop makes (and every rdpmc/rdtsc) first lets the fake advance: the
// counter counts, the clock ticks, or the kernel takes one step of a page
// update (sched out, sched in, reprogram), so updates interleave with the
// reader at every possible point.
type fakeKernel struct {
	rng *rand.Rand

	// Truth.
	tsc              uint64
	count            uint64
	enabled, running uint64 // ns
	scheduled        bool
	idx              uint32 // hardware counter 1..4 when scheduled
	hw               [4]uint64
	shortClock       bool // the clock is 32 bits wide (cap_user_time_short)

	// The page as the reader sees it, in Go memory with the kernel's
	// layout; the reader loads it through pageReader exactly as a
	// mapped page.
	pg unix.PerfEventMmapPage

	pending []func() // steps of an update in progress
	// pUpdate is the chance per tick that an update starts.
	pUpdate float64
}

func newFakeKernel(seed uint64, caps uint64, short bool) *fakeKernel {
	k := &fakeKernel{rng: rand.New(rand.NewPCG(seed, seed^0x9e37)), pUpdate: 0.08, shortClock: short}
	k.tsc = 1 << 31 // near the 32-bit wrap, to exercise the short clock
	k.pg.Capabilities = caps
	k.pg.Pmc_width, k.pg.Time_shift, k.pg.Time_mult = fakeWidth, fakeShift, fakeMult
	k.scheduleIn(1)
	for _, step := range k.pending {
		step()
	}
	k.pending = nil
	return k
}

func (k *fakeKernel) ns(c uint64) uint64 { return cyclesToNanos(c, fakeShift, fakeMult) }

// tick advances the simulation by one random action.
func (k *fakeKernel) tick() {
	if len(k.pending) > 0 && k.rng.IntN(2) == 0 {
		step := k.pending[0]
		k.pending = k.pending[1:]
		step()
		return
	}
	if len(k.pending) == 0 && k.rng.Float64() < k.pUpdate {
		switch {
		case !k.scheduled:
			k.scheduleIn(uint32(1 + k.rng.IntN(4)))
		case k.rng.IntN(2) == 0:
			k.scheduleOut()
		default:
			k.scheduleIn(uint32(1 + k.rng.IntN(4))) // reprogram, maybe on another counter
		}
		return
	}
	k.advance(uint64(1 + k.rng.IntN(500)))
}

// advance lets d cycles pass. Running time accrues while scheduled; the
// counter counts only while scheduled and no update is in flight (the
// kernel stops it to fold the count).
func (k *fakeKernel) advance(d uint64) {
	dn := k.ns(k.tsc+d) - k.ns(k.tsc)
	k.tsc += d
	k.enabled += dn
	if k.scheduled {
		k.running += dn
	}
	if k.scheduled && len(k.pending) == 0 {
		n := uint64(k.rng.IntN(100))
		k.count += n
		k.hw[k.idx-1] = (k.hw[k.idx-1] + n) & fakeMask
	}
}

func signExt(v uint64, width uint) int64 { return int64(v<<(64-width)) >> (64 - width) }

// pageTimes is the update step that publishes the time fields, as of
// the moment the step runs.
func (k *fakeKernel) pageTimes() {
	k.pg.Time_enabled, k.pg.Time_running = k.enabled, k.running
	k.pg.Time_offset = -k.ns(k.tsc) // wraps: enabled + ns(cyc) + offset
	k.pg.Time_cycles = k.tsc
	k.pg.Time_mask = 1<<32 - 1
}

// scheduleIn programs counter idx with a negative start value (as for a
// sampling period) and publishes offset = count - start.
func (k *fakeKernel) scheduleIn(idx uint32) {
	start := uint64(-int64(1+k.rng.IntN(1<<20))) & fakeMask
	k.pending = append(k.pending,
		func() { k.pg.Lock++ },
		func() { k.hw[idx-1] = start; k.idx = idx; k.scheduled = true },
		func() { k.pg.Offset = int64(k.count) - signExt(start, fakeWidth) },
		k.pageTimes,
		func() { k.pg.Index = idx },
		func() { k.pg.Lock++ },
	)
}

// scheduleOut stops the counter and publishes the frozen count.
func (k *fakeKernel) scheduleOut() {
	k.pending = append(k.pending,
		func() { k.pg.Lock++ },
		func() { k.scheduled = false },
		func() { k.pg.Index = 0 },
		func() { k.pg.Offset = int64(k.count) },
		k.pageTimes,
		func() { k.pg.Lock++ },
	)
}

// reader returns the loop on the fake page, letting the fake advance
// before every step.
func (k *fakeKernel) reader() hookedPage {
	return hookedPage{page: &k.pg, step: k.tick, fake: k}
}

func (k *fakeKernel) rdpmc(c uint32) (uint64, bool) {
	if c > 3 {
		panic("rdpmc of a counter that does not exist")
	}
	return k.hw[c], true
}

func (k *fakeKernel) rdtsc() (uint64, bool) {
	if k.shortClock {
		return k.tsc & (1<<32 - 1), true
	}
	return k.tsc, true
}

type truth struct{ count, enabled, running uint64 }

func (k *fakeKernel) truth() truth { return truth{k.count, k.enabled, k.running} }

// checkWithin reports whether a snapshot lies between two truths.
func checkWithin(s pageSnapshot, lo, hi truth) bool {
	return lo.count <= s.Count && s.Count <= hi.count &&
		lo.enabled <= s.Enabled && s.Enabled <= hi.enabled &&
		lo.running <= s.Running && s.Running <= hi.running
}

// TestReadPageUnderConcurrentUpdates runs the loop against the fake with
// page updates interleaved at every step and checks every result against
// the truth at the start and end of the read.
func TestReadPageUnderConcurrentUpdates(t *testing.T) {
	const caps = unix.PerfCapUserRdpmc | unix.PerfCapUserTime | unix.PerfCapBit0IsDeprecated
	for _, short := range []bool{false, true} {
		c := caps
		if short {
			c |= unix.PerfCapUserTimeShort
		}
		var reads, retried, live, failed int
		for seed := uint64(0); seed < 200; seed++ {
			k := newFakeKernel(seed, c, short)
			for i := 0; i < 200; i++ {
				lo := k.truth()
				s, ok := k.reader().read(32)
				hi := k.truth()
				if !ok {
					failed++
					continue
				}
				reads++
				if s.Retries > 0 {
					retried++
				}
				if s.Live {
					live++
				}
				if !s.Timed {
					t.Fatalf("seed %d: cap_user_time set but snapshot not timed", seed)
				}
				if !checkWithin(s, lo, hi) {
					t.Fatalf("seed %d read %d (short clock %v): snapshot %+v outside [%+v, %+v]", seed, i, short, s, lo, hi)
				}
			}
		}
		t.Logf("short clock %v: %d reads, %d retried, %d live, %d gave up", short, reads, retried, live, failed)
		if retried == 0 || live == 0 || reads-live == 0 {
			t.Errorf("schedule did not exercise retries (%d), live reads (%d) and index-0 reads (%d)", retried, live, reads-live)
		}
	}
}

func TestPropertyCheckCatchesTornReads(t *testing.T) {
	// A reader that ignores the lock: one pass over the fields.
	torn := 0
	for seed := uint64(0); seed < 200; seed++ {
		k := newFakeKernel(seed, unix.PerfCapUserRdpmc|unix.PerfCapUserTime, false)
		for i := 0; i < 200; i++ {
			lo := k.truth()
			r := k.reader()
			en, run := r.timeEnabled(), r.timeRunning()
			_, shift, mult := r.widthShiftMult()
			cyc, _ := r.rdtsc()
			toff := r.timeOffset()
			idx := r.index()
			count := r.offset()
			if idx != 0 {
				pmc, _ := r.rdpmc(idx - 1)
				count += signExt(pmc, fakeWidth)
			}
			delta := cyclesToNanos(cyc, shift, mult) + toff
			en += delta
			if idx != 0 {
				run += delta
			}
			hi := k.truth()
			if !checkWithin(pageSnapshot{Count: uint64(count), Enabled: en, Running: run}, lo, hi) {
				torn++
			}
		}
	}
	if torn == 0 {
		t.Fatal("a lock-free single pass never tore: the fake does not interleave updates with reads")
	}
	t.Logf("single pass without the seqlock: %d torn reads of 40000", torn)
}

func TestReadPageExact(t *testing.T) {
	caps := unix.PerfCapUserRdpmc | unix.PerfCapUserTime
	page := func(idx uint32, off int64, caps uint64, width, shift uint16, mult uint32, en, run, toff uint64) unix.PerfEventMmapPage {
		return unix.PerfEventMmapPage{Index: idx, Offset: off, Capabilities: caps, Pmc_width: width, Time_shift: shift, Time_mult: mult, Time_enabled: en, Time_running: run, Time_offset: toff}
	}
	short := page(1, 0, caps|unix.PerfCapUserTimeShort, 64, 0, 1, 0, 0, uint64(1<<64-0xffff_fff0))
	short.Time_cycles, short.Time_mask = 0xffff_fff0, 0xffff_ffff
	for _, tc := range []struct {
		name string
		page unix.PerfEventMmapPage
		pmc  uint64
		tsc  uint64
		want pageSnapshot
	}{
		{
			name: "negative pmc sign-extended",
			page: page(2, 1000, caps, 48, 10, 1024, 50, 40, uint64(1<<64-100)),
			pmc:  1<<48 - 5, tsc: 300,
			want: pageSnapshot{Count: 995, Enabled: 250, Running: 240, Index: 2, Caps: caps, Live: true, Timed: true},
		},
		{
			name: "index 0: offset only, running not extended",
			page: page(0, 777, caps, 48, 10, 1024, 50, 40, uint64(1<<64-100)),
			pmc:  12345, tsc: 300,
			want: pageSnapshot{Count: 777, Enabled: 250, Running: 40, Caps: caps, Timed: true},
		},
		{
			name: "no caps (software event page)",
			page: page(0, 42, unix.PerfCapBit0IsDeprecated, 0, 0, 0, 9, 9, 0),
			want: pageSnapshot{Count: 42, Enabled: 9, Running: 9, Caps: unix.PerfCapBit0IsDeprecated},
		},
		{
			name: "short clock wraps",
			page: short,
			pmc:  7, tsc: 0x10,
			want: pageSnapshot{Count: 7, Enabled: 0x20, Running: 0x20, Index: 1, Caps: caps | unix.PerfCapUserTimeShort, Live: true, Timed: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cpu := staticCPU{pmc: tc.pmc, tsc: tc.tsc}
			r := hookedPage{page: &tc.page, fake: &cpu}
			got, ok := r.read(4)
			if !ok || got != tc.want {
				t.Errorf("got %+v ok %v, want %+v", got, ok, tc.want)
			}
			if tc.want.Live && cpu.lastCounter != tc.page.Index-1 {
				t.Errorf("rdpmc(%d), want rdpmc(index-1 = %d)", cpu.lastCounter, tc.page.Index-1)
			}
		})
	}
}

func TestReadPageRetriesExhausted(t *testing.T) {
	var pg unix.PerfEventMmapPage
	pg.Capabilities = unix.PerfCapUserTime
	r := hookedPage{page: &pg, step: func() { pg.Lock += 2 }, fake: &staticCPU{}}
	s, ok := r.read(5)
	if ok || s.Retries != 5 {
		t.Errorf("always-changing lock: ok %v retries %d, want false, 5", ok, s.Retries)
	}
	odd := unix.PerfEventMmapPage{Lock: 3}
	r = hookedPage{page: &odd, fake: &staticCPU{}}
	if _, ok := r.read(3); ok {
		t.Error("odd lock (update in progress) accepted")
	}
}

func TestCyclesToNanos(t *testing.T) {
	for _, tc := range []struct {
		cyc   uint64
		shift uint16
		mult  uint32
		want  uint64
	}{
		{1000, 10, 1024, 1000},
		{1 << 62, 31, 1 << 31, 1 << 62}, // no overflow of cyc*mult
		{3, 1, 1, 1},
		{1 << 40, 0, 3, 3 << 40},
		{5, 64, 1, 0},
	} {
		if got := cyclesToNanos(tc.cyc, tc.shift, tc.mult); got != tc.want {
			t.Errorf("cyclesToNanos(%d, %d, %d) = %d, want %d", tc.cyc, tc.shift, tc.mult, got, tc.want)
		}
	}
}

type staticCPU struct {
	pmc, tsc    uint64
	lastCounter uint32
}

func (c *staticCPU) rdpmc(n uint32) (uint64, bool) { c.lastCounter = n; return c.pmc, true }
func (c *staticCPU) rdtsc() (uint64, bool)         { return c.tsc, true }

// TestLivePageAgainstWriterGoroutine runs the reader's atomic loads on
// a page in Go memory while another goroutine plays the
// kernel on another CPU: it publishes generation g with
// offset = g*1000 - pmc and times g under the seqlock. A consistent read
// always has count = 1000*enabled and enabled == running.
func TestLivePageAgainstWriterGoroutine(t *testing.T) {
	var pg unix.PerfEventMmapPage
	var hw, gen atomic.Uint64
	pg.Capabilities = unix.PerfCapUserRdpmc
	pg.Pmc_width = 48
	pg.Index = 1
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for g := uint64(1); ; g++ {
			gen.Store(g)
			select {
			case <-stop:
				return
			default:
			}
			atomic.AddUint32(&pg.Lock, 1)
			pmc := uint64(rng.Int64N(1 << 40))
			hw.Store(pmc)
			atomic.StoreInt64(&pg.Offset, int64(g*1000)-int64(pmc))
			atomic.StoreUint64(&pg.Time_enabled, g)
			atomic.StoreUint64(&pg.Time_running, g)
			atomic.AddUint32(&pg.Lock, 1)
		}
	}()
	cpu := hwRegister{&hw}
	var reads, retries, gaveUp int
	for reads < 5000000 && (reads < 100000 || gen.Load() < 50000 || retries < 100) {
		s, ok := (hookedPage{page: &pg, fake: cpu}).read(maxPageRetries)
		reads++
		if !ok {
			gaveUp++
			continue
		}
		retries += s.Retries
		if s.Count != 1000*s.Enabled || s.Enabled != s.Running {
			close(stop)
			wg.Wait()
			t.Fatalf("torn read: %+v", s)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d reads against a writer that published %d generations: %d retries, %d gave up", reads, gen.Load(), retries, gaveUp)
	if retries == 0 && runtime.GOMAXPROCS(0) > 1 {
		t.Error("no read ever overlapped a write: the test did not exercise the seqlock")
	}
}

type hwRegister struct{ v *atomic.Uint64 }

func (h hwRegister) rdpmc(uint32) (uint64, bool) { return h.v.Load(), true }
func (h hwRegister) rdtsc() (uint64, bool)       { return 0, false }
