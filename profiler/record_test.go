package profiler

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

// fakeStream replays events, then returns end (io.EOF if nil). With
// block, it then waits for ctx instead.
type fakeStream struct {
	events []Event
	end    error
	block  bool
}

func (s *fakeStream) Next(ctx context.Context) (Event, error) {
	if len(s.events) > 0 {
		ev := s.events[0]
		s.events = s.events[1:]
		return ev, nil
	}
	if s.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if s.end != nil {
		return nil, s.end
	}
	return nil, io.EOF
}

func TestRecord(t *testing.T) {
	exeA := Mapping{Start: 0x400000, Limit: 0x500000, File: "/bin/a"}
	exeB := Mapping{Start: 0x400000, Limit: 0x480000, File: "/bin/b"}
	sample := func(pid, tid int, ip uint64) *Sample {
		return &Sample{IP: ip, PID: pid, TID: tid, CPU: 0, VCPU: -1, Period: 10}
	}
	s := &fakeStream{events: []Event{
		&CommEvent{PID: 1, TID: 1, Comm: "a", Exec: true},
		&MmapEvent{PID: 1, TID: 1, Mapping: exeA},
		sample(1, 1, 0x400010),
		&ForkEvent{PID: 2, PPID: 1, TID: 2, PTID: 1},
		sample(2, 2, 0x400020), // the child still runs /bin/a
		&CommEvent{PID: 2, TID: 2, Comm: "b", Exec: true},
		&MmapEvent{PID: 2, TID: 2, Mapping: exeB},
		sample(2, 2, 0x400030), // now /bin/b
		&LostEvent{Count: 3},
		&ExitEvent{PID: 2, PPID: 1, TID: 2, PTID: 1},
		sample(2, 2, 0x400040), // read after the exit record: still resolved
		&MmapEvent{PID: 1, Mapping: Mapping{Start: 5, Limit: 1}},
	}}
	b, err := NewBuilder(Options{Event: "cycles", Processes: NewProcesses(false)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Record(context.Background(), s, b, RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := RecordStats{Samples: 4, Mmaps: 3, Comms: 2, Forks: 1, Exits: 1, LostRecords: 1, Lost: 3, BadMmaps: 1}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	p := roundTrip(t, b)
	for _, tt := range []struct {
		leaf       uint64
		file, comm string
	}{
		{0x400010, "/bin/a", "a"},
		{0x400020, "/bin/a", "a"},
		{0x400030, "/bin/b", "b"},
		{0x400040, "/bin/b", "b"},
	} {
		s := findSample(t, p, tt.leaf, "")
		if m := s.Location[0].Mapping; m == nil || m.File != tt.file || s.Label["comm"][0] != tt.comm {
			t.Errorf("sample at %#x: mapping %v, comm %v; want %s, %s", tt.leaf, m, s.Label["comm"], tt.file, tt.comm)
		}
	}
	if added, lost := b.Samples(); added != 4 || lost != 3 {
		t.Errorf("Samples() = %d, %d", added, lost)
	}
}

func TestRecordErrors(t *testing.T) {
	b, _ := NewBuilder(Options{Event: "cycles", Processes: NewProcesses(false)})
	broken := errors.New("ring buffer corrupt")
	st, err := Record(context.Background(), &fakeStream{events: []Event{&Sample{IP: 1, CPU: -1, VCPU: -1}}, end: broken}, b, RecordOptions{})
	if !errors.Is(err, broken) || st.Samples != 1 {
		t.Errorf("Record = %+v, %v; want the stream's error after 1 sample", st, err)
	}
	if added, _ := b.Samples(); added != 1 {
		t.Errorf("builder lost the sample read before the error")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := Record(ctx, &fakeStream{block: true}, b, RecordOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Record with an expiring context: %v", err)
	}

	for _, ev := range []Event{nil, (*Sample)(nil), (*MmapEvent)(nil), (*LostEvent)(nil)} {
		if _, err := Record(context.Background(), &fakeStream{events: []Event{ev}}, b, RecordOptions{}); err == nil {
			t.Errorf("Record accepted a nil %T", ev)
		}
	}
}

// reusingStream hands out one Sample value, overwritten for each record,
// as a zero-copy reader would.
type reusingStream struct {
	events []Event
	buf    Sample
}

func (s *reusingStream) Next(ctx context.Context) (Event, error) {
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	if smp, ok := ev.(*Sample); ok {
		s.buf = *smp
		s.buf.Stack = append(s.buf.Stack[:0], smp.Stack...)
		return &s.buf, nil
	}
	return ev, nil
}

// TestRecordReorder delivers records out of time order, the way per-CPU
// rings are read, and checks that each sample is resolved against the
// mappings its process had at the sample's time.
func TestRecordReorder(t *testing.T) {
	a := Mapping{Start: 0x400000, Limit: 0x500000, File: "/bin/a"}
	bm := Mapping{Start: 0x400000, Limit: 0x500000, File: "/bin/b"}
	at := func(ip, time uint64) *Sample {
		return &Sample{IP: ip, Stack: []uint64{ip + 0x100}, PID: 1, TID: 1, CPU: 0, VCPU: -1, Time: time}
	}
	events := []Event{
		at(0x400010, 200), // read before the mapping it was taken in
		&MmapEvent{PID: 1, TID: 1, Mapping: a, Time: 100},
		&CommEvent{PID: 1, TID: 1, Comm: "b", Exec: true, Time: 300},
		&MmapEvent{PID: 1, TID: 1, Mapping: bm, Time: 310},
		at(0x400020, 250), // the old image, read after the exec
		at(0x400030, 400),
		&LostEvent{Count: 2}, // untimed: kept in arrival order
	}
	for _, tt := range []struct {
		name   string
		window time.Duration
		want   map[uint64]string // leaf -> mapping file ("" for none)
	}{
		{"ordered", 0, map[uint64]string{0x400010: "/bin/a", 0x400020: "/bin/a", 0x400030: "/bin/b"}},
		// Without reordering the first sample finds no mapping and the
		// second the new image's: both wrong.
		{"arrival order", -1, map[uint64]string{0x400010: "", 0x400020: "/bin/b", 0x400030: "/bin/b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := NewBuilder(Options{Event: "cycles", Processes: NewProcesses(false)})
			var times []uint64
			b.addHook = func(s *Sample, _ []int32) { times = append(times, s.Time) }
			st, err := Record(context.Background(), &reusingStream{events: slices.Clone(events)}, b, RecordOptions{Window: tt.window})
			if err != nil || st.Samples != 3 || st.Lost != 2 {
				t.Fatalf("Record = %+v, %v", st, err)
			}
			p := roundTrip(t, b)
			for leaf, file := range tt.want {
				s := findSample(t, p, leaf, "")
				got := ""
				if m := s.Location[0].Mapping; m != nil {
					got = m.File
				}
				if got != file {
					t.Errorf("sample at %#x: mapping %q, want %q", leaf, got, file)
				}
				// The reused buffer was copied: the caller frame is
				// the sample's own.
				if s.Location[1].Address != leaf+0x100-1 {
					t.Errorf("sample at %#x: caller %#x", leaf, s.Location[1].Address)
				}
			}
			if tt.window == 0 && !slices.Equal(times, []uint64{200, 250, 400}) {
				t.Errorf("samples applied at times %v", times)
			}
		})
	}
}
