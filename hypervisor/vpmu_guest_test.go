package hypervisor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
)

// goGuestEnv is the environment of the Go test guests: no asynchronous
// preemption, whose signal (and the runtime's rt_sigreturn after it)
// could land inside a region a guest measures; it would be counted
// exactly, but the guest checks its own system calls only.
var goGuestEnv = []string{"GODEBUG=asyncpreemptoff=1"}

var (
	vpmuGuestOnce sync.Once
	vpmuGuestPath string
	vpmuGuestErr  error
)

// buildVPMUGuest builds testdata/vpmuguest once per test binary.
func buildVPMUGuest(t testing.TB) string {
	t.Helper()
	gotool := testutil.GoTool(t)
	vpmuGuestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vpmuguest-")
		if err != nil {
			vpmuGuestErr = err
			return
		}
		vpmuGuestPath = filepath.Join(dir, "vpmuguest")
		cmd := exec.Command(gotool, "build", "-o", vpmuGuestPath, "./testdata/vpmuguest")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			vpmuGuestErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if vpmuGuestErr != nil {
		t.Fatal(vpmuGuestErr)
	}
	return vpmuGuestPath
}

// guestLines runs the Go guest with the VMM counting spec and returns its
// output lines.
func guestLines(t *testing.T, cfg Config, spec string, args ...string) ([]string, VPMUCounts, *oracle, time.Duration) {
	t.Helper()
	prog := buildVPMUGuest(t)
	cfg.Env = goGuestEnv
	r, c, o, d := runCounted(t, cfg, spec, prog, args...)
	return strings.Split(strings.TrimSpace(r.stdout), "\n"), c, o, d
}

// TestVPMUGuestlibTallies runs 8 Go threads on 2 VCPUs and 1 PCPU; each
// reads its own counters through guestlib around a distinct known number
// of system calls. Every thread's count is exact, and the per-thread
// counts of the whole run (the VMM's own counters, inherited by every
// thread) equal the oracle and sum to the VCPU and VM totals.
func TestVPMUGuestlibTallies(t *testing.T) {
	lines, c, o, _ := guestLines(t, Config{VCPUs: 2, PCPUs: 1}, tallySpec, "tally", "8")
	tids := map[int]bool{}
	for i, l := range lines {
		var w, tid, k, sys, exits, pv, total int
		if n, err := fmt.Sscanf(l, "worker %d tid %d k %d syscalls %d exits %d pv %d total %d", &w, &tid, &k, &sys, &exits, &pv, &total); n != 7 {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if w != i || k != 50*(i+1)+i {
			t.Fatalf("line %d %q", i, l)
		}
		if sys != k {
			t.Errorf("worker %d (tid %d) read %d system calls around its %d getpid calls", w, tid, sys, k)
		}
		if exits < k {
			t.Errorf("worker %d: %d VM exits around %d system calls", w, exits, k)
		}
		if pv < 1 {
			t.Errorf("worker %d: the PV read shows %d system calls fewer than the direct read before it", w, -pv)
		}
		if tids[tid] {
			t.Errorf("two workers on thread %d", tid)
		}
		tids[tid] = true
	}
	if len(lines) != 8 {
		t.Fatalf("%d workers reported", len(lines))
	}
	checkAgainstOracle(t, c, o)
}

// checkAgainstOracle checks every thread's tallies against the oracle and
// the sums over threads against the VCPU totals.
func checkAgainstOracle(t *testing.T, c VPMUCounts, o *oracle) {
	t.Helper()
	sys, exits := eventIndex(t, c, "syscalls"), eventIndex(t, c, "vm-exits")
	cs, mig := eventIndex(t, c, "context-switches"), eventIndex(t, c, "cpu-migrations")
	for _, th := range c.Threads {
		for _, ch := range []struct {
			name      string
			got, want uint64
		}{
			{"syscalls", th.Values[sys].Raw, o.syscalls[th.TID]},
			{"vm-exits", th.Values[exits].Raw, o.exits[th.TID]},
			{"context-switches", th.Values[cs].Raw, o.switches[th.TID]},
			{"cpu-migrations", th.Values[mig].Raw, o.migr[th.TID]},
		} {
			if ch.got != ch.want {
				t.Errorf("thread %d: %s = %d, the oracle saw %d", th.TID, ch.name, ch.got, ch.want)
			}
		}
	}
	for _, i := range []int{sys, exits, cs, mig} {
		var vcpus uint64
		for _, v := range c.VCPUs {
			vcpus += v.Values[i].Raw
		}
		if c.Total[i].Raw != vcpus {
			t.Errorf("%s: threads sum to %d, VCPUs to %d", c.Events[i], c.Total[i].Raw, vcpus)
		}
	}
}

// TestVPMUGuestTime checks guest time as a Go program reads it: reads
// are monotonic while busy threads force switches and migrations, and no
// thread's guest time exceeds wall time times VCPUs.
func TestVPMUGuestTime(t *testing.T) {
	const vcpus = 2
	lines, c, _, elapsed := guestLines(t, Config{VCPUs: vcpus, PCPUs: 1, TimeSlice: time.Millisecond}, tallySpec, "time")
	var reads, switches int
	if n, _ := fmt.Sscanf(lines[0], "monotonic reads %d switches %d", &reads, &switches); n != 2 {
		t.Fatalf("guest: %q", strings.Join(lines, "\n"))
	}
	if switches < 3 {
		t.Errorf("the reader was switched %d times; the test needs switches", switches)
	}
	var loopNS, accrued int64
	if n, _ := fmt.Sscanf(lines[len(lines)-1], "loop %d accrued %d", &loopNS, &accrued); n != 2 {
		t.Fatalf("guest: %q", lines[len(lines)-1])
	}
	if accrued > loopNS || accrued < loopNS/4 {
		t.Errorf("a compute loop of %v wall time accrued %v of guest time", time.Duration(loopNS), time.Duration(accrued))
	}
	clock := eventIndex(t, c, "task-clock")
	for _, th := range c.Threads {
		if d := time.Duration(th.Values[clock].Raw); d > elapsed*vcpus || th.Values[clock].Enabled > elapsed*vcpus {
			t.Errorf("thread %d: guest time %v in a %v run on %d VCPUs", th.TID, d, elapsed, vcpus)
		}
	}
	t.Logf("%d monotonic reads, %d switches; %s", reads, switches, strings.Join(lines[1:], "; "))
}

// TestVPMUDirectReadNoExit times a million direct reads of a group of
// four in the VM and checks that they cause no VM exit: across the loop
// the thread has no I/O, MMIO or exception exit, the only ways guest code
// reaches the VMM. The VCPUs outnumber the program's threads and the
// time slice is long, so that the scheduler rarely kicks the reader; a
// kick (an interrupt exit) comes from the VMM or the host, reads or not,
// and is reported, not counted against the reads.
func TestVPMUDirectReadNoExit(t *testing.T) {
	n := "1000000"
	if testing.Short() {
		n = "100000"
	}
	lines, _, _, _ := guestLines(t, Config{VCPUs: 4, PCPUs: 4, TimeSlice: time.Second}, "vm-exits", "bench", n)
	var reads, exits, intr, io, exc, mmio int
	var ns float64
	if k, _ := fmt.Sscanf(lines[1], "direct reads %d ns/read %g exits %d", &reads, &ns, &exits); k != 3 {
		t.Fatalf("guest: %q", strings.Join(lines, "\n"))
	}
	if k, _ := fmt.Sscanf(lines[0], "exits during the loop: interrupt %d io %d exception %d mmio %d", &intr, &io, &exc, &mmio); k != 4 {
		t.Fatalf("guest: %q", strings.Join(lines, "\n"))
	}
	if io+exc+mmio != 0 || exits != intr {
		t.Errorf("%d direct reads: %d exits, of which %d I/O, %d exception, %d MMIO", reads, exits, io, exc, mmio)
	}
	t.Logf("%s; %s; %s", lines[1], lines[0], lines[2])
}
