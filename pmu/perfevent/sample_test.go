package perfevent

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// drain reads every record available now (a done context makes
// ReadRecord non-blocking).
func drain(t *testing.T, r *Reader) []Record {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var out []Record
	for {
		rec, err := r.ReadRecord(done)
		if errors.Is(err, context.Canceled) {
			return out
		}
		if err != nil {
			t.Fatalf("after %d records: %v", len(out), err)
		}
		out = append(out, rec)
	}
}

func samplesOf(recs []Record) (samples []*SampleRecord, lost []*LostRecord) {
	for _, r := range recs {
		switch r := r.(type) {
		case *SampleRecord:
			samples = append(samples, r)
		case *LostRecord:
			lost = append(lost, r)
		}
	}
	return samples, lost
}

func funcName(ip uint64) string {
	if f := runtime.FuncForPC(uintptr(ip)); f != nil {
		return f.Name()
	}
	return ""
}

// TestSampleCPUClockBusyLoop samples this thread's busy loop with
// cpu-clock every 100 µs of CPU time and checks the samples.
func TestSampleCPUClockBusyLoop(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	const period = 100_000 // ns of CPU time
	s, err := New().OpenSampler(pmu.Group{Events: []pmu.Event{evCPUClock}}, pmu.Target{PID: 0, CPU: -1, Disabled: true},
		SampleConfig{Period: period, DataPages: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Enable(); err != nil {
		t.Fatal(err)
	}
	spin(3e7)
	if err := s.Disable(); err != nil {
		t.Fatal(err)
	}
	vals, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	recs := drain(t, s.Reader)
	samples, lost := samplesOf(recs)
	if len(lost) != 0 {
		t.Fatalf("lost records with a 1 MiB ring: %+v", lost)
	}
	// At most one sample per period of the counted CPU time. cpu-clock
	// samples from an hrtimer, and a timer that fires late (common in a
	// VM) skips the periods it missed, so allow a fifth fewer.
	want := vals[0].Raw / period
	if n := uint64(len(samples)); n < want*4/5 || n > want+1 {
		t.Errorf("%d samples for %d ns of cpu-clock, want %d (at least %d)", n, vals[0].Raw, want, want*4/5)
	}
	tid, pid := unix.Gettid(), unix.Getpid()
	var inSpin, user, userGo int
	var lastTime uint64
	for i, smp := range samples {
		if int(smp.TID) != tid || int(smp.PID) != pid {
			t.Fatalf("sample %d: pid/tid %d/%d, want %d/%d", i, smp.PID, smp.TID, pid, tid)
		}
		if int(smp.CPU) >= runtime.NumCPU() {
			t.Fatalf("sample %d: cpu %d", i, smp.CPU)
		}
		if smp.Period != period {
			t.Fatalf("sample %d: period %d, want %d", i, smp.Period, period)
		}
		if smp.Time <= lastTime {
			t.Fatalf("sample %d: time %d not after %d", i, smp.Time, lastTime)
		}
		lastTime = smp.Time
		if len(smp.Callchain) < 2 || !IsContextMarker(smp.Callchain[0]) {
			t.Fatalf("sample %d: callchain %x does not start with a context marker", i, smp.Callchain)
		}
		// IPs must be sane for their mode: user addresses in the lower
		// half, kernel addresses in the upper half.
		switch smp.CPUMode() {
		case ModeUser:
			if int64(smp.IP) < 0 || smp.IP == 0 {
				t.Fatalf("sample %d: user-mode IP %#x", i, smp.IP)
			}
			user++
			if name := funcName(smp.IP); name != "" {
				userGo++
				if strings.HasSuffix(name, ".spin") {
					inSpin++
				}
			}
		case ModeKernel:
			if int64(smp.IP) >= 0 {
				t.Fatalf("sample %d: kernel-mode IP %#x", i, smp.IP)
			}
		default:
			t.Fatalf("sample %d: mode %v", i, smp.CPUMode())
		}
	}
	// The loop is pure user-mode computation: nearly every user-mode
	// sample must resolve to Go code and most must land in spin (the rest
	// are the runtime's, and kernel-mode samples are interrupt work).
	if userGo < user*95/100 || inSpin < user*3/4 {
		t.Errorf("%d user-mode samples, %d in Go code, %d in spin; IPs: %s", user, userGo, inSpin, sampleFuncs(samples))
	}
	t.Logf("%d samples (%d user-mode, %d in spin), %d records in all", len(samples), user, inSpin, len(recs))
}

func sampleFuncs(samples []*SampleRecord) string {
	count := map[string]int{}
	for _, s := range samples {
		count[funcName(s.IP)]++
	}
	var b strings.Builder
	for f, n := range count {
		b.WriteString(f)
		b.WriteString("=")
		b.WriteString(strings.Repeat("|", min(n, 20)))
		b.WriteString(" ")
	}
	return b.String()
}

// TestSampleLost overflows a one-page ring and checks the kernel's LOST
// record comes through. The kernel counts what it drops while the ring
// is full and writes the LOST record with the first output after the
// reader frees space, so the test fills the ring, drains it, and lets
// the event run again.
func TestSampleLost(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	s, err := New().OpenSampler(pmu.Group{Events: []pmu.Event{evTaskClock}}, pmu.ThisThread,
		SampleConfig{Period: 50_000, DataPages: 1, SampleType: SampleIP | SampleTID | SampleTime | SampleCallchain})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spin(3e7) // ~60 ms: over a thousand samples, where 4 KiB holds a few dozen
	first, lost1 := samplesOf(drain(t, s.Reader))
	spin(1e6)
	s.Disable()
	samples, lost := samplesOf(drain(t, s.Reader))
	lost = append(lost1, lost...)
	var n uint64
	for _, l := range lost {
		n += l.Lost
		if l.ID != s.Counters()[0].IDs()[0] {
			t.Errorf("LOST record for id %d, want %d", l.ID, s.Counters()[0].IDs()[0])
		}
	}
	if len(lost) == 0 || n == 0 || s.Lost() != n {
		t.Fatalf("%d+%d samples, %d LOST records totalling %d (Reader.Lost %d): want losses", len(first), len(samples), len(lost), n, s.Lost())
	}
	t.Logf("%d samples kept, %d lost in %d LOST records", len(first)+len(samples), n, len(lost))
}

// TestSampleReadGroup samples cpu-clock with page-faults in the group
// and PERF_SAMPLE_READ.
func TestSampleReadGroup(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	g := pmu.Group{Events: []pmu.Event{evCPUClock, evPageFaults}}
	s, err := New().OpenSampler(g, pmu.ThisThread, SampleConfig{Period: 200_000, SampleType: SampleIP | SampleTID | SampleRead})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 10; i++ {
		touchPagesRaw(200)
		spin(5e5)
	}
	s.Disable()
	samples, _ := samplesOf(drain(t, s.Reader))
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
	ids := s.Counters()[0].IDs()
	var lastPF uint64
	for i, smp := range samples {
		if smp.Read == nil || len(smp.Read.Values) != 2 {
			t.Fatalf("sample %d: read values %+v", i, smp.Read)
		}
		if smp.Read.Values[0].ID != ids[0] || smp.Read.Values[1].ID != ids[1] {
			t.Fatalf("sample %d: ids %d,%d want %v", i, smp.Read.Values[0].ID, smp.Read.Values[1].ID, ids)
		}
		if pf := smp.Read.Values[1].Value; pf < lastPF {
			t.Fatalf("sample %d: page-faults went back %d -> %d", i, lastPF, pf)
		}
		lastPF = smp.Read.Values[1].Value
	}
	if lastPF < 1000 {
		t.Errorf("page-faults in the last sample = %d, want most of 2000", lastPF)
	}
}

func TestSampleFreq(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	s, err := New().OpenSampler(pmu.Group{Events: []pmu.Event{evCPUClock}}, pmu.ThisThread, SampleConfig{Freq: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spin(2e7)
	s.Disable()
	samples, _ := samplesOf(drain(t, s.Reader))
	if len(samples) == 0 || samples[len(samples)-1].Period == 0 {
		t.Fatalf("%d samples at 2000 Hz", len(samples))
	}
	t.Logf("%d samples at 2000 Hz, last period %d ns", len(samples), samples[len(samples)-1].Period)
}

// blockedRead starts ReadRecord on a sampler that produces nothing and
// returns its result channel.
func blockedRead(t *testing.T, ctx context.Context) (*Sampler, chan error) {
	t.Helper()
	s, err := New().OpenSampler(pmu.Group{Events: []pmu.Event{evTaskClock}}, pmu.Target{PID: 0, CPU: -1, Disabled: true}, SampleConfig{Period: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := s.ReadRecord(ctx)
		res <- err
	}()
	return s, res
}

// hangGuard bounds how long a test waits for something that must
// happen; it is not a timing assertion.
const hangGuard = 30 * time.Second

func TestReaderCloseUnblocks(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	s, res := blockedRead(t, context.Background())
	runtime.Gosched()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("ReadRecord after Close: %v, want ErrClosed", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Close did not unblock ReadRecord")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.ReadRecord(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadRecord on a closed reader: %v", err)
	}
}

func TestReaderContextCancelUnblocks(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, res := blockedRead(t, ctx)
	defer s.Close()
	runtime.Gosched()
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadRecord after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("cancel did not unblock ReadRecord")
	}
}

func TestSampleConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  SampleConfig
		want string
	}{
		{"no rate", SampleConfig{}, "neither Period nor Freq"},
		{"both rates", SampleConfig{Period: 1, Freq: 1}, "both Period and Freq"},
		{"pages", SampleConfig{Period: 1, DataPages: 3}, "not a power of two"},
		{"wakeups", SampleConfig{Period: 1, WakeupEvents: 1, WakeupBytes: 1}, "both WakeupEvents and WakeupBytes"},
		{"build id", SampleConfig{Period: 1, BuildID: true}, "BuildID needs Mmap"},
		{"regs", SampleConfig{Period: 1, SampleType: SampleIP | SampleType(unix.PERF_SAMPLE_REGS_USER)}, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(withOpen(func(*unix.PerfEventAttr, int, int, int, int) (int, error) {
				t.Fatal("perf_event_open reached")
				return -1, nil
			})).OpenSampler(pmu.Group{Events: []pmu.Event{evCPUClock}}, pmu.ThisThread, tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v does not say %q", err, tc.want)
			}
		})
	}
}

// TestSampleFreqTooHigh checks the kernel's EINVAL is explained.
func TestSampleFreqTooHigh(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	max, err := realHost.maxSampleRate()
	if err != nil {
		t.Skip(err)
	}
	_, err = New().OpenSampler(pmu.Group{Events: []pmu.Event{evCPUClock}}, pmu.ThisThread, SampleConfig{Freq: uint64(max) * 10})
	if err == nil || !strings.Contains(err.Error(), "perf_event_max_sample_rate") {
		t.Fatalf("freq %d: %v", max*10, err)
	}
	t.Log(err)
}
