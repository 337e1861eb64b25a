package hypervisor

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/internal/unix"
)

// TestCPUTimers checks the CPU-time interval timers' bookkeeping: due,
// expiry, re-arming from the deadline, catching up one interval per
// check, one-shot timers and what set returns.
func TestCPUTimers(t *testing.T) {
	var c cpuTimers
	if c.due(1 << 40) {
		t.Fatal("due with no timer armed")
	}
	const ms = int64(time.Millisecond)
	c.set(itimerProf, 100*ms, 10*time.Millisecond, 10*time.Millisecond)
	c.set(itimerVirtual, 100*ms, 25*time.Millisecond, 0)
	if c.due(109*ms) || !c.due(110*ms) {
		t.Errorf("due around the first deadline (110 ms): %v %v", c.due(109*ms), c.due(110*ms))
	}
	if got := c.expire(112 * ms); !slices.Equal(got, []int{sigPROF}) {
		t.Errorf("expire at 112 ms = %v, want SIGPROF", got)
	}
	// Re-armed from the deadline (120 ms), not from the check.
	if v, iv := c.get(itimerProf, 112*ms); v != 8*time.Millisecond || iv != 10*time.Millisecond {
		t.Errorf("get after the first expiry = %v, %v; want 8ms, 10ms", v, iv)
	}
	// 30 ms behind: one signal per check until caught up, and the
	// one-shot SIGVTALRM once.
	if got := c.expire(150 * ms); !slices.Equal(got, []int{sigVTALRM, sigPROF}) {
		t.Errorf("expire at 150 ms = %v, want SIGVTALRM, SIGPROF", got)
	}
	n := 0
	for c.due(150 * ms) {
		c.expire(150 * ms)
		n++
	}
	if n != 3 {
		t.Errorf("caught up in %d more checks, want 3 (deadlines 130, 140 and 150 ms)", n)
	}
	if v, _ := c.get(itimerVirtual, 150*ms); v != 0 {
		t.Errorf("a fired one-shot timer has %v left", v)
	}
	// An expired timer whose check has not come reports a microsecond.
	if v, _ := c.get(itimerProf, 500*ms); v != time.Microsecond {
		t.Errorf("overdue timer reports %v left, want 1µs", v)
	}
	oldV, oldI := c.set(itimerProf, 155*ms, 0, 0)
	if oldV != 5*time.Millisecond || oldI != 10*time.Millisecond || c.next.v.Load() != 0 {
		t.Errorf("disarm = %v, %v, next %d; want 5ms, 10ms, 0", oldV, oldI, c.next.v.Load())
	}
}

// TestITimerProgram runs testdata/itimer.c natively and in the VM on one
// and two VCPUs: ITIMER_PROF across two threads, getitimer, disarming,
// a one-shot ITIMER_VIRTUAL during a loop that makes no system call (so
// the scheduler's tick must kick the VCPU for it), SI_KERNEL, and bad
// arguments. Same output everywhere.
func TestITimerProgram(t *testing.T) {
	prog := buildC(t, "itimer", "-pthread")
	nout, nerr, ncode := runNative(t, nil, prog)
	if ncode != 0 {
		t.Fatalf("native run: status %d\n%s%s", ncode, nout, nerr)
	}
	for _, vcpus := range []int{1, 2} {
		r := runGuest(t, Config{VCPUs: vcpus}, prog)
		if r.err != nil || r.status.Int() != 0 || r.stdout != nout {
			t.Errorf("%d VCPUs: %v %v\n%s\nnative:\n%s\ndiff:\n%s", vcpus, r.status, r.err, r.stdout, nout, lineDiff(r.stdout, nout))
		}
		if len(r.stats.Unimplemented) != 0 {
			t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
		}
	}
}

// TestGoCPUProfile runs a Go program that profiles itself with
// runtime/pprof in the VM on two VCPUs (per-thread timers on
// CLOCK_THREAD_CPUTIME_ID): the profile it writes must have samples,
// with the function that does three times the work on top at about
// three times the other's samples.
func TestGoCPUProfile(t *testing.T) {
	prog := buildGo(t, "goprof")
	dir := t.TempDir()
	out := filepath.Join(dir, "cpu.pprof")
	r := runGuest(t, Config{VCPUs: 2, RWDirs: []string{dir}}, prog, out, "200")
	if r.err != nil || r.status.Int() != 0 {
		t.Fatalf("guest: %v %v\n%s%s", r.status, r.err, r.stdout, r.stderr)
	}
	if len(r.stats.Unimplemented) != 0 {
		t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("the guest's profile: %v", err)
	}
	var heavy, light, total int64
	for _, s := range p.Sample {
		total += s.Value[0]
		var fns []string
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				fns = append(fns, l.Function.Name)
			}
		}
		switch {
		case slices.Contains(fns, "main.heavy"):
			heavy += s.Value[0]
		case slices.Contains(fns, "main.light"):
			light += s.Value[0]
		}
	}
	t.Logf("samples: %d in all, main.heavy %d, main.light %d", total, heavy, light)
	if total < 50 || light == 0 {
		t.Fatalf("%d samples, %d in main.light: the profile is empty or one-sided", total, light)
	}
	if ratio := float64(heavy) / float64(light); ratio < 1.5 || ratio > 6 {
		t.Errorf("main.heavy:main.light = %.2f, want about 3", ratio)
	}
	if float64(heavy+light) < 0.8*float64(total) {
		t.Errorf("only %d of %d samples in the two functions", heavy+light, total)
	}
}

// TestCPUClockOf checks which CPU clock each clock id names: the
// process's and the thread's by their constants and by the ids of
// clock_getcpuclockid and pthread_getcpuclockid (~pid << 3 | perthread
// << 2 | which), and EINVAL for another process, a thread that is not
// there, and the kind 3.
func TestCPUClockOf(t *testing.T) {
	th, _ := newFakeProcess(t)
	p := th.proc
	other := p.newThread(threadContext{})
	clockID := func(pid int, perThread bool, which int) int {
		id := ^pid<<3 | which
		if perThread {
			id |= cpuClockPerThread
		}
		return id
	}
	for _, tc := range []struct {
		id     int
		ok     bool
		thread *Thread
		err    error
	}{
		{clockRealtime, false, nil, nil},
		{clockProcessCputimeID, true, nil, nil},
		{clockThreadCputimeID, true, th, nil},
		{clockID(0, false, 0), true, nil, nil},
		{clockID(p.pid, false, 2), true, nil, nil},
		{clockID(p.pid+77, false, 2), true, nil, unix.EINVAL},
		{clockID(0, true, 2), true, th, nil},
		{clockID(other.tid, true, 1), true, other, nil},
		{clockID(other.tid+500, true, 1), true, nil, unix.EINVAL},
		{clockID(0, false, 3), true, nil, unix.EINVAL},
	} {
		c, ok, err := th.cpuClockOf(tc.id)
		if ok != tc.ok || err != tc.err || (err == nil && ok && (c.thread != tc.thread || c.proc != p)) {
			t.Errorf("clock %d: %+v ok %v err %v; want ok %v thread %v err %v", tc.id, c, ok, err, tc.ok, tc.thread, tc.err)
		}
	}
	th.cpuNanos.Store(5e6)
	p.cpuTotal.Store(9e6)
	if n := (cpuClock{proc: p, thread: th}).nanos(); n != 5e6 {
		t.Errorf("thread clock reads %d", n)
	}
	if n := (cpuClock{proc: p}).nanos(); n != 9e6 {
		t.Errorf("process clock reads %d", n)
	}
}

// TestCPUWatch checks a CPU clock's armed timers: due from the earliest
// deadline, expiry removes what is due with the setting it was armed
// for, and disarm.
func TestCPUWatch(t *testing.T) {
	var w cpuWatch
	a, b := &posixTimer{id: 1}, &posixTimer{id: 2}
	w.arm(a, 100, 7)
	w.arm(b, 50, 8)
	if w.due(49) || !w.due(50) {
		t.Errorf("due at 49, 50: %v %v", w.due(49), w.due(50))
	}
	got := w.expire(60)
	if len(got) != 1 || got[0].tm != b || got[0].gen != 8 {
		t.Errorf("expire(60) = %+v, want timer 2 of setting 8", got)
	}
	if w.next.v.Load() != 100 {
		t.Errorf("next %d after expiry, want 100", w.next.v.Load())
	}
	w.arm(a, 200, 9) // re-arming replaces
	w.disarm(b)      // not armed: nothing
	if got := w.expire(150); len(got) != 0 {
		t.Errorf("expire(150) = %+v after re-arming at 200", got)
	}
	w.disarm(a)
	if w.next.v.Load() != 0 || w.due(1<<40) {
		t.Errorf("next %d after disarming everything", w.next.v.Load())
	}
}
