package perfevent

import (
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

func benchCounter(b *testing.B, g pmu.Group, opts ...Option) *Counter {
	testutil.MustHavePerfEvent(b)
	lockThread(b)
	c, err := New(opts...).OpenCounter(g, pmu.ThisThread)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func benchRead(b *testing.B, c *Counter) {
	dst := make([]pmu.Value, 0, len(c.Group().Events))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if dst, err = c.ReadInto(dst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadSyscallGroup4 is one read(2) of a group of four software
// events with PERF_FORMAT_GROUP, decoded by ID.
func BenchmarkReadSyscallGroup4(b *testing.B) { benchRead(b, benchCounter(b, swGroup())) }

// BenchmarkReadSyscallSingle is read(2) of one event.
func BenchmarkReadSyscallSingle(b *testing.B) {
	benchRead(b, benchCounter(b, pmu.Group{Events: []pmu.Event{evTaskClock}}))
}

// BenchmarkReadUserPageGroup4 is Read with WithUserPage on the same
// group: on software events every read checks the pages (index 0) and
// falls back to read(2).
func BenchmarkReadUserPageGroup4(b *testing.B) {
	c := benchCounter(b, swGroup(), WithUserPage())
	benchRead(b, c)
	if s := c.Stats(); s.UserPage != 0 || s.Fallback(FallbackIndexZero) == 0 {
		b.Fatalf("unexpected paths: %+v", s)
	}
}

// BenchmarkPageLoopKernelPage is the seqlock loop alone on a real
// software event's page (no rdpmc, no rdtsc: its caps are clear).
func BenchmarkPageLoopKernelPage(b *testing.B) {
	c := benchCounter(b, pmu.Group{Events: []pmu.Event{evTaskClock}}, WithUserPage())
	r := livePage{c.pages[0].page}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := r.read(maxPageRetries); !ok {
			b.Fatal("retries exhausted")
		}
	}
}

// BenchmarkPageLoopTimed runs the production loop on a page in Go
// memory shaped like a running hardware counter's but without
// cap_user_rdpmc (RDPMC faults here): index set and cap_user_time, so it
// executes the real RDTSC and the time extension. The fast path costs
// this plus one RDPMC.
func BenchmarkPageLoopTimed(b *testing.B) {
	var pg unix.PerfEventMmapPage
	pg.Index = 1
	pg.Capabilities = unix.PerfCapUserTime
	pg.Pmc_width, pg.Time_shift, pg.Time_mult = 48, 10, 411
	p := livePage{&pg}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s, ok := p.read(maxPageRetries); !ok || !s.Timed {
			b.Fatal("not a timed read")
		}
	}
}

// BenchmarkRdtsc is the RDTSC instruction through its Go assembly stub.
func BenchmarkRdtsc(b *testing.B) {
	if !haveRdpmc {
		b.Skip("no rdtsc here")
	}
	b.ReportAllocs()
	var s uint64
	for i := 0; i < b.N; i++ {
		s += rdtscAsm()
	}
	spinSink += s
}
