package guestlib

import (
	"errors"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
)

func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }

// work burns CPU without system calls.
// workSink keeps work's results, so that the compiler keeps its loop.
var workSink uint64

func work(n int) uint64 {
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// TestNativeSet opens software events through perf_event on the calling
// thread and checks reads, enable, disable, reset and close.
func TestNativeSet(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	if InVM() {
		t.Fatal("InVM() is true on plain Linux")
	}
	s, err := Open("{task-clock,context-switches},page-faults")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(s.Events()); n != 3 {
		t.Fatalf("%d events", n)
	}
	r := make([]Reading, 3)
	if err := s.Read(r[:2]); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short buffer: %v", err)
	}
	workSink += work(2e7)
	if err := s.Read(r); err != nil {
		t.Fatal(err)
	}
	if s.Events()[0].Name != "task-clock" || r[0].Value == 0 || r[0].Enabled == 0 || r[0].Running != r[0].Enabled {
		t.Errorf("task-clock after some work: %+v", r[0])
	}
	// task-clock counts the time it is enabled and running.
	if d := time.Duration(r[0].Value) - r[0].Running; d > time.Millisecond || d < -time.Millisecond {
		t.Errorf("task-clock %v, running %v", time.Duration(r[0].Value), r[0].Running)
	}
	if r[1].Enabled != r[0].Enabled {
		t.Errorf("one group, different times: %v and %v", r[0].Enabled, r[1].Enabled)
	}
	if err := s.Disable(); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadPV(r); err != nil {
		t.Fatal(err)
	}
	stopped := r[0].Value
	workSink += work(1e7)
	if err := s.Read(r); err != nil {
		t.Fatal(err)
	}
	if r[0].Value != stopped {
		t.Errorf("task-clock moved from %d to %d while disabled", stopped, r[0].Value)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(); err != nil {
		t.Fatal(err)
	}
	if err := s.Read(r); err != nil {
		t.Fatal(err)
	}
	if r[0].Value >= stopped {
		t.Errorf("task-clock %d after reset, was %d", r[0].Value, stopped)
	}
	if err := s.ReadInherited(r); !errors.Is(err, pmu.ErrNotSupported) {
		t.Errorf("ReadInherited natively: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Read(r); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	var se *pmu.SpecError
	if _, err := Open("task-clock,no-such-event"); !errors.As(err, &se) {
		t.Errorf("bad spec: %v", err)
	}
	if _, err := Open("syscalls"); !errors.Is(err, pmu.ErrNotSupported) {
		t.Errorf("a vpmu-only event natively: %v", err)
	}
	// Without a hardware PMU, cycles is not supported, with the reason.
	if s, err := Open("cycles"); err == nil {
		s.Close()
	} else if !errors.Is(err, pmu.ErrNotSupported) {
		t.Errorf("cycles: %v", err)
	}
}

func TestParseNotSupported(t *testing.T) {
	in := &pmu.NotSupportedError{Event: "instructions:u", Reason: "no hardware PMU: this machine is a VM; try \"precise\""}
	got := parseNotSupported(in.Error())
	if got == nil || got.Event != in.Event || got.Reason != in.Reason {
		t.Errorf("parsed %+v from %q", got, in.Error())
	}
	for _, bad := range []string{"", "event", `event "x`, `event "x" is fine`} {
		if parseNotSupported(bad) != nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

// ExampleOpen reads the calling thread's own counters. The same code
// reads them inside the vpmu hypervisor (through its state page, without
// a trap) and on plain Linux (through perf_event).
func ExampleOpen() {
	s, err := Open("task-clock,context-switches")
	if err != nil {
		return // not supported here: err says why
	}
	defer s.Close()
	r := make([]Reading, len(s.Events()))
	// ... the work to measure ...
	if err := s.Read(r); err == nil {
		for _, x := range r {
			_ = x.Value // and x.Enabled, x.Running; s.Events() says which event
		}
	}
	// Output:
}
