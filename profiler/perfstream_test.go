package profiler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu/perfevent"
)

// fakeReader replays records the way a perfevent.Reader delivers them:
// ready records without blocking, then end (io.EOF or an error), or,
// when end is nil, it blocks until ctx ends. Records in late become
// readable once a blocked read has been cancelled, as if the kernel had
// written them while the reader waited.
type fakeReader struct {
	mu    sync.Mutex
	ready []any // perfevent.Record or error
	late  []any
	end   error
	reads int
}

func (f *fakeReader) ReadRecord(ctx context.Context) (perfevent.Record, error) {
	f.mu.Lock()
	f.reads++
	if len(f.ready) > 0 {
		it := f.ready[0]
		f.ready = f.ready[1:]
		f.mu.Unlock()
		if err, ok := it.(error); ok {
			return nil, err
		}
		return it.(perfevent.Record), nil
	}
	if f.end != nil {
		f.mu.Unlock()
		return nil, f.end
	}
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.ready, f.late = append(f.ready, f.late...), nil
	f.mu.Unlock()
	return nil, ctx.Err()
}

func hdr(t perfevent.RecordType, time uint64) perfevent.RecordHeader {
	return perfevent.RecordHeader{Type: t, Identity: perfevent.Identity{Time: time}}
}

func TestPerfStreamConvert(t *testing.T) {
	const ctxUser = 0xfffffffffffffe00 // PERF_CONTEXT_USER
	tests := []struct {
		name string
		rec  perfevent.Record
		want Event // nil: dropped
	}{
		{"sample with callchain",
			&perfevent.SampleRecord{RecordHeader: hdr(perfevent.RecordSample, 0), IP: 0x401000, PID: 7, TID: 8, Time: 100, CPU: 1, Period: 250000,
				Callchain: []uint64{ctxUser, 0x401000, 0x401100, 0x401200}},
			&Sample{IP: 0x401000, Stack: []uint64{0x401100, 0x401200}, PID: 7, TID: 8, CPU: 1, VCPU: -1, Period: 250000, Time: 100}},
		{"sample without callchain",
			&perfevent.SampleRecord{RecordHeader: hdr(perfevent.RecordSample, 0), IP: 0xffffffff81000000, PID: 7, TID: 9, Time: 101, Period: 3},
			&Sample{IP: 0xffffffff81000000, PID: 7, TID: 9, VCPU: -1, Period: 3, Time: 101}},
		{"mmap2 with build id",
			&perfevent.Mmap2Record{RecordHeader: hdr(perfevent.RecordMmap2, 50), PID: 7, TID: 7, Addr: 0x400000, Len: 0x1000, Pgoff: 0x2000,
				BuildID: []byte{0xab, 0xcd}, Filename: "/bin/prog"},
			&MmapEvent{PID: 7, TID: 7, Time: 50, Mapping: Mapping{Start: 0x400000, Limit: 0x401000, Offset: 0x2000, File: "/bin/prog", BuildID: "abcd"}}},
		{"mmap",
			&perfevent.MmapRecord{RecordHeader: hdr(perfevent.RecordMmap, 51), PID: 0xffffffff, TID: 0xffffffff, Addr: 0x1000, Len: 0x10, Filename: "[vdso]"},
			&MmapEvent{PID: -1, TID: -1, Time: 51, Mapping: Mapping{Start: 0x1000, Limit: 0x1010, File: "[vdso]"}}},
		{"comm exec",
			&perfevent.CommRecord{RecordHeader: perfevent.RecordHeader{Type: perfevent.RecordComm, Misc: 0x2000, Identity: perfevent.Identity{Time: 52}}, PID: 7, TID: 7, Comm: "prog"},
			&CommEvent{PID: 7, TID: 7, Comm: "prog", Exec: true, Time: 52}},
		{"fork",
			&perfevent.ForkRecord{RecordHeader: hdr(perfevent.RecordFork, 0), PID: 7, PPID: 7, TID: 10, PTID: 7, Time: 53},
			&ForkEvent{PID: 7, PPID: 7, TID: 10, PTID: 7, Time: 53}},
		{"exit",
			&perfevent.ForkRecord{RecordHeader: hdr(perfevent.RecordExit, 0), PID: 7, PPID: 1, TID: 7, PTID: 1, Time: 54},
			&ExitEvent{PID: 7, PPID: 1, TID: 7, PTID: 1, Time: 54}},
		{"lost",
			&perfevent.LostRecord{RecordHeader: hdr(perfevent.RecordLost, 55), ID: 1, Lost: 12},
			&LostEvent{Count: 12, Time: 55}},
		{"lost samples",
			&perfevent.LostSamplesRecord{RecordHeader: hdr(perfevent.RecordLostSamples, 56), Lost: 3},
			&LostEvent{Count: 3, Time: 56}},
		{"throttle", &perfevent.ThrottleRecord{RecordHeader: hdr(perfevent.RecordThrottle, 0), Time: 57}, nil},
		{"unthrottle", &perfevent.ThrottleRecord{RecordHeader: hdr(perfevent.RecordUnthrottle, 0), Time: 58}, nil},
		{"unknown", &perfevent.UnknownRecord{RecordHeader: hdr(99, 0)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewPerfStream(0, &fakeReader{ready: []any{tt.rec}, end: io.EOF})
			defer s.Close()
			ev, err := s.Next(context.Background())
			if tt.want == nil {
				if err != io.EOF {
					t.Fatalf("Next = %#v, %v; want the record dropped and io.EOF", ev, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev, tt.want) {
				t.Errorf("got  %#v\nwant %#v", ev, tt.want)
			}
			if _, err := s.Next(context.Background()); err != io.EOF {
				t.Errorf("second Next: %v, want io.EOF", err)
			}
		})
	}
}

func TestPerfStreamStats(t *testing.T) {
	r := &fakeReader{ready: []any{
		&perfevent.ThrottleRecord{RecordHeader: hdr(perfevent.RecordThrottle, 0)},
		&perfevent.ThrottleRecord{RecordHeader: hdr(perfevent.RecordUnthrottle, 0)},
		fmt.Errorf("ring of perf fd 5: %w", perfevent.ErrCorruptRing),
		&perfevent.UnknownRecord{RecordHeader: hdr(99, 0)},
		&perfevent.SampleRecord{IP: 1, Time: 5},
	}, end: io.EOF}
	s := NewPerfStream(0, r)
	defer s.Close()
	n := 0
	for {
		_, err := s.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d events, want the one sample (a corrupt ring is skipped, not fatal)", n)
	}
	if got, want := s.Stats(), (PerfStreamStats{Throttles: 1, Unknown: 1, CorruptRings: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// readAll reads s to its end and returns the sample IPs and the error.
func readAll(t *testing.T, s *PerfStream) ([]uint64, error) {
	t.Helper()
	var ips []uint64
	for {
		ev, err := s.Next(context.Background())
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return ips, err
		}
		if smp, ok := ev.(*Sample); ok {
			ips = append(ips, smp.IP)
		}
	}
}

func samples(ips ...uint64) []any {
	var out []any
	for _, ip := range ips {
		out = append(out, &perfevent.SampleRecord{IP: ip, Time: ip})
	}
	return out
}

func TestPerfStreamReaders(t *testing.T) {
	a := &fakeReader{ready: samples(1, 2, 3), end: io.EOF}
	b := &fakeReader{ready: samples(10, 20), end: io.EOF}
	s := NewPerfStream(0, a, b)
	defer s.Close()
	ips, err := readAll(t, s)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]bool{}
	for _, ip := range ips {
		got[ip] = true
	}
	if len(ips) != 5 || len(got) != 5 {
		t.Errorf("samples %v, want 1,2,3,10,20 each once", ips)
	}
}

func TestPerfStreamReaderError(t *testing.T) {
	boom := errors.New("poll perf fds: boom")
	a := &fakeReader{ready: samples(1), end: boom}
	b := &fakeReader{ready: samples(2, 3), end: io.EOF}
	s := NewPerfStream(0, a, b)
	defer s.Close()
	ips, err := readAll(t, s)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	if len(ips) != 3 {
		t.Errorf("samples %v: the other readers' records must still arrive before the error", ips)
	}
}

// TestPerfStreamStop checks that Stop returns what the rings hold when it
// is called (records written while the readers waited) and then ends.
func TestPerfStreamStop(t *testing.T) {
	a := &fakeReader{ready: samples(1), late: samples(2, 3)}
	b := &fakeReader{late: samples(4)}
	s := NewPerfStream(time.Hour, a, b)
	defer s.Close()
	ev, err := s.Next(context.Background())
	if err != nil || ev.(*Sample).IP != 1 {
		t.Fatalf("first Next = %v, %v", ev, err)
	}
	s.Stop()
	ips, err := readAll(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 3 {
		t.Errorf("after Stop: samples %v, want 2, 3 and 4 drained", ips)
	}
}

// TestPerfStreamInterval checks that a reader looks at its rings again
// when the interval passes without a wakeup.
func TestPerfStreamInterval(t *testing.T) {
	a := &fakeReader{late: samples(7)}
	s := NewPerfStream(time.Millisecond, a)
	defer s.Close()
	ev, err := s.Next(context.Background())
	if err != nil || ev.(*Sample).IP != 7 {
		t.Fatalf("Next = %v, %v; want the record found on a timed look", ev, err)
	}
}

func TestPerfStreamCancelAndClose(t *testing.T) {
	a := &fakeReader{} // blocks forever
	s := NewPerfStream(time.Hour, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with an ending context: %v, want its error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Next(context.Background()); err != io.EOF {
		t.Errorf("Next after Close: %v, want io.EOF", err)
	}

	// Close before any Next must not start the readers.
	b := &fakeReader{ready: samples(1)}
	s = NewPerfStream(0, b)
	s.Close()
	if _, err := s.Next(context.Background()); err != io.EOF {
		t.Errorf("Next after early Close: %v, want io.EOF", err)
	}
	if b.reads != 0 {
		t.Errorf("reader read %d times after Close", b.reads)
	}
}

// TestPerfStreamRecord drives Record through the adapter.
func TestPerfStreamRecord(t *testing.T) {
	r := &fakeReader{ready: []any{
		&perfevent.SampleRecord{IP: 0x401010, PID: 7, TID: 7, Time: 20, Period: 100},
		&perfevent.CommRecord{RecordHeader: perfevent.RecordHeader{Type: perfevent.RecordComm, Misc: 0x2000, Identity: perfevent.Identity{Time: 5}}, PID: 7, TID: 7, Comm: "prog"},
		&perfevent.Mmap2Record{RecordHeader: hdr(perfevent.RecordMmap2, 10), PID: 7, TID: 7, Addr: 0x400000, Len: 0x2000, Filename: "/nonexistent/prog"},
		&perfevent.LostRecord{RecordHeader: hdr(perfevent.RecordLost, 30), Lost: 2},
	}, end: io.EOF}
	b, err := NewBuilder(Options{Event: "cpu-clock", Processes: NewProcesses(false)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewPerfStream(0, r)
	defer s.Close()
	st, err := Record(context.Background(), s, b, RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples != 1 || st.Mmaps != 1 || st.Comms != 1 || st.Lost != 2 {
		t.Errorf("stats %+v", st)
	}
	p, err := b.Profile()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, smp := range p.Sample {
		for _, loc := range smp.Location {
			if loc.Mapping != nil && loc.Mapping.File == "/nonexistent/prog" {
				found = true
				if c := smp.Label["comm"]; len(c) != 1 || c[0] != "prog" {
					t.Errorf("comm label %v, want prog (the COMM read after the sample, applied in time order)", c)
				}
			}
		}
	}
	if !found {
		t.Errorf("the sample read before its MMAP2 was not resolved against it:\n%v", p)
	}
}

// repeatReader returns the same record n times, then io.EOF.
type repeatReader struct {
	rec perfevent.Record
	n   int
}

func (r *repeatReader) ReadRecord(context.Context) (perfevent.Record, error) {
	if r.n == 0 {
		return nil, io.EOF
	}
	r.n--
	return r.rec, nil
}

// BenchmarkPerfStreamNext is the adapter's cost per sample with a call
// chain of 16 frames: the hand-off from the reader goroutine and the
// conversion.
func BenchmarkPerfStreamNext(b *testing.B) {
	chain := []uint64{0xfffffffffffffe00}
	for i := range 16 {
		chain = append(chain, 0x401000+uint64(i)*0x10)
	}
	rec := &perfevent.SampleRecord{IP: 0x401000, PID: 7, TID: 7, Time: 1, Period: 250000, Callchain: chain}
	s := NewPerfStream(0, &repeatReader{rec: rec, n: b.N})
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Next(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
