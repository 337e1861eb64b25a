package hypervisor

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
)

// TestTimerPrograms runs testdata/timers.c in every mode natively and
// in the VM on one and two VCPUs: POSIX timers with each notification
// (glibc's SIGEV_THREAD included), overruns, SIGEV_NONE countdowns,
// timerfds in poll, select and epoll, and the error cases. The program
// prints only facts that do not depend on timing; the outputs must be
// the same byte for byte, and the native one must hold no failure.
func TestTimerPrograms(t *testing.T) {
	compareModes(t, buildC(t, "timers", "-pthread"), "posix", "thread-id", "sigev-thread", "overrun", "none", "ignored", "timerfd", "errors")
}

// TestTimerCap: a guest that creates POSIX timers in a loop gets EAGAIN
// at maxPosixTimers, can arm every one of them on a 1 ms period (each a
// host timer, no goroutine), and creates again after deleting one. When
// it has exited, every timer is stopped and no goroutine is left behind.
func TestTimerCap(t *testing.T) {
	prog := buildC(t, "timers", "-pthread")
	testutil.MustHaveKVM(t)
	before := runtime.NumGoroutine()
	var stdout, stderr bytes.Buffer
	vm, err := New(Config{VCPUs: 2, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := vm.Run(ctx, prog, []string{prog, "cap"})
	want := "created 1024, then Resource temporarily unavailable\narmed 1024\n" +
		"delete one: 0\ncreate again: 0\nfull again: -1 Resource temporarily unavailable\n"
	if st.Int() != 0 || err != nil || stdout.String() != want {
		t.Errorf("status %v err %v stdout:\n%s\nwant:\n%s\nstderr: %s", st, err, stdout.String(), want, stderr.String())
	}
	pt := &vm.proc.sig.timers
	pt.mu.Lock()
	left, closed := len(pt.m), pt.closed
	pt.mu.Unlock()
	if left != 0 || !closed {
		t.Errorf("after exit: %d timers, closed %v", left, closed)
	}
	vm.Close()
	// Goroutines of the run end soon after Close; a timer left armed
	// would keep starting new ones.
	var n int
	for range 200 {
		if n = runtime.NumGoroutine(); n <= before+2 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines after the run, %d before", n, before)
}
