package profiler

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// TestPerfStreamRealStop samples this thread with the kernel's
// task-clock, asks for a wakeup only after far more samples than it
// takes, and reads nothing until Stop: every sample must come out of the
// drain, resolved against this test binary.
func TestPerfStreamRealStop(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	taskClock := pmu.Event{Name: "task-clock", Kind: pmu.KindSoftware, Type: 1, Config: 1}
	sm, err := perfevent.New().OpenSampler(pmu.Group{Events: []pmu.Event{taskClock}}, pmu.ThisThread,
		perfevent.SampleConfig{Period: 1_000_000, WakeupEvents: 1 << 20, Mmap: true, Comm: true, Task: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	s := NewPerfStream(time.Hour, sm)
	defer s.Close()

	// Spin for 50 ms of this thread's CPU time: about 50 samples.
	spinCPU(50 * time.Millisecond)
	if err := sm.Disable(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	b, err := NewBuilder(Options{Event: "task-clock", Period: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Record(context.Background(), s, b, RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples < 10 {
		t.Fatalf("%d samples after Stop, want about 50 from the drained ring (stats %+v)", st.Samples, st)
	}
	pid := os.Getpid()
	p, err := b.Profile()
	if err != nil {
		t.Fatal(err)
	}
	for _, smp := range p.Sample {
		if got := smp.NumLabel["pid"]; len(got) != 1 || got[0] != int64(pid) {
			t.Fatalf("sample with pid label %v, want %d", got, pid)
		}
	}
	t.Logf("%d samples, stats %+v", st.Samples, s.Stats())
}

// spinCPU burns the calling thread's CPU time until d has been used (or,
// should schedstat be unreadable, for 100 times d of wall time).
func spinCPU(d time.Duration) {
	start, deadline := threadCPU(), time.Now().Add(100*d)
	for threadCPU()-start < d && time.Now().Before(deadline) {
		for i := 0; i < 100000; i++ {
			spinSink += i
		}
	}
}

var spinSink int

// threadCPU returns the calling thread's CPU time.
func threadCPU() time.Duration {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0
	}
	var ns int64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		ns = ns*10 + int64(c-'0')
	}
	return time.Duration(ns)
}
