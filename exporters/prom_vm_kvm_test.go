package exporters

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
)

// vmGuest compiles testdata/vmguest.c without a C library into the
// test's temporary directory, skipping without KVM or gcc. The binary is
// named vmguest, which is its threads' comm in the VM.
func vmGuest(t testing.TB) string {
	t.Helper()
	testutil.MustHaveKVM(t)
	return testutil.BuildNoLibc(t, filepath.Join("testdata", "vmguest.c"), "vmguest")
}

// lockedWriter is an io.Writer safe for the VCPUs' concurrent writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newVM creates a VM counting spec, with exitedThreads as its
// VPMUConfig.ExitedThreads (0: every thread listed, the default); it is
// closed at the end of the test.
func newVM(t testing.TB, spec string, vcpus int, stdin io.Reader, stdout io.Writer, exitedThreads ...int) *hypervisor.VM {
	t.Helper()
	vc := hypervisor.VPMUConfig{Spec: pmu.MustParseSpec(spec)}
	if len(exitedThreads) > 0 {
		vc.ExitedThreads = exitedThreads[0]
	}
	vm, err := hypervisor.New(hypervisor.Config{
		VCPUs: vcpus, PCPUs: 1, MemBytes: 64 << 20,
		Stdin: stdin, Stdout: &lockedWriter{w: stdout}, Stderr: &lockedWriter{w: io.Discard},
		VPMU: vc,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	return vm
}

// goldenVMSpec has only events whose counts in the tally guest are known
// exactly, and two the VM cannot count.
const goldenVMSpec = "syscalls,page-faults,cpu-migrations,signals,pv-calls,minor-faults,alignment-faults"

// goldenEventFamilies and goldenVMMFamilies are the families whose
// values are exact for the tally guest on one VCPU: no guest time, no
// scheduling-dependent count.
var (
	goldenEventFamilies = []string{promEvents, promEventsRaw, promRatio, promUp, promNotSupported}
	goldenVMMFamilies   = []string{promVMDenials, promVMFirstDenial, promVMThreads, promVMThreadsCreated, promVMMemLimit, promVMUnknownSyscall}
)

// TestVMGolden runs the tally guest on one VCPU and compares the exact
// families of the VM target, per thread, after the program ended, with
// testdata/prom_vm.golden: per-thread system calls 6, 101, 201, 301,
// totals and VCPU 0 609, the two refusals, every row final (exited), the
// two events the VM cannot count with their reasons. It also lints every
// family of the real VM.
func TestVMGolden(t *testing.T) {
	prog := vmGuest(t)
	vm := newVM(t, goldenVMSpec, 1, nil, io.Discard)
	vt, err := NewVMTarget(vm, VMOptions{Name: "tally", PerThread: true})
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCollector(t, vt)
	vmm := vt.VMMCollector()
	scrape(t, c) // before the program runs: zero counts, no threads

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st, err := vm.Run(ctx, prog, []string{prog, "tally"}); err != nil || st.Int() != 0 {
		t.Fatalf("guest: %v, %v", st, err)
	}
	for name, coll := range map[string]prometheus.Collector{"events": c, "vmm": vmm} {
		problems, err := promtestutil.CollectAndLint(coll)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: lint: %s: %s", name, p.Metric, p.Text)
		}
	}
	path := filepath.Join("testdata", "prom_vm.golden")
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c, vmm)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, mf := range mfs {
			if slices.Contains(goldenEventFamilies, mf.GetName()) || slices.Contains(goldenVMMFamilies, mf.GetName()) {
				expfmt.MetricFamilyToText(&b, mf)
			}
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update -run TestVMGolden to create it)", err)
	}
	for _, g := range []struct {
		c        prometheus.Collector
		families []string
	}{{c, goldenEventFamilies}, {vmm, goldenVMMFamilies}} {
		if err := promtestutil.CollectAndCompare(g.c, bytes.NewReader(want), g.families...); err != nil {
			t.Errorf("%v\n(go test -update -run TestVMGolden rewrites %s)", err, path)
		}
	}
}

// blockGuest runs "vmguest block n" in a VM counting spec until the
// test ends, and returns it once the guest said ready, with a function
// that asks the guest for one round of work (1000 system calls) and
// waits until it is done.
func blockGuest(t testing.TB, spec string, n int) (vm *hypervisor.VM, work func()) {
	t.Helper()
	vm, work, _ = serveGuest(t, spec, 0, "block", strconv.Itoa(n))
	return vm, work
}

// serveGuest is blockGuest for "vmguest ARGS" (block or churn), in a VM
// with VPMUConfig.ExitedThreads exitedThreads. It also returns a
// function that ends the guest's input and waits until the program has
// ended (the test's cleanup does it otherwise).
func serveGuest(t testing.TB, spec string, exitedThreads int, args ...string) (vm *hypervisor.VM, work, end func()) {
	t.Helper()
	prog := vmGuest(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	vm = newVM(t, spec, 2, inR, outW, exitedThreads)
	done := make(chan error, 1)
	go func() {
		st, err := vm.Run(context.Background(), prog, append([]string{prog}, args...))
		if err == nil && st.Int() != 0 {
			err = &exec.ExitError{}
		}
		outW.Close()
		done <- err
	}()
	var once sync.Once
	end = func() {
		once.Do(func() {
			inW.Close() // end of input: the guest exits
			if err := <-done; err != nil {
				t.Errorf("guest: %v", err)
			}
		})
	}
	t.Cleanup(end)
	lines := bufio.NewReader(outR)
	expect := func(want string) {
		line, err := lines.ReadString('\n')
		if err != nil || line != want+"\n" {
			t.Fatalf("guest said %q (%v), want %q", line, err, want)
		}
	}
	expect("ready")
	return vm, func() {
		if _, err := io.WriteString(inW, "go\n"); err != nil {
			t.Fatal(err)
		}
		expect("ok")
	}, end
}

// TestVMTargetLive scrapes a running guest twice around a round of work:
// its system calls and guest time grow, its 8 blocked threads have
// series, and no series is final while it runs.
func TestVMTargetLive(t *testing.T) {
	vm, work := blockGuest(t, "syscalls,task-clock", 8)
	vt, err := NewVMTarget(vm, VMOptions{Name: "live", PerThread: true})
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCollector(t, vt)
	s1 := series(t, c, vt.VMMCollector())
	work()
	s2 := series(t, c, vt.VMMCollector())
	for _, k := range []string{
		`vpmu_events_total{event="syscalls",target="vm",vm="live"}`,
		`vpmu_events_total{event="task-clock",target="vm",vm="live"}`,
		`vpmu_events_total{comm="vmguest",event="syscalls",target="vm",tid="1000",vm="live"}`,
	} {
		if !(s2[k] > s1[k]) {
			t.Errorf("%s: %v then %v, want it to grow", k, s1[k], s2[k])
		}
	}
	if d := s2[`vpmu_events_total{event="syscalls",target="vm",vm="live"}`] - s1[`vpmu_events_total{event="syscalls",target="vm",vm="live"}`]; d < 1000 {
		t.Errorf("%v more system calls, want at least the 1000 getpid calls", d)
	}
	if got := len(withPrefix(s2, `vpmu_event_up{comm="vmguest",event="syscalls",target="vm",tid=`)); got != 9 {
		t.Errorf("%d threads with series, want 9", got)
	}
	if got := s2[`vpmu_vm_threads{target="vm",vm="live"}`]; got != 9 {
		t.Errorf("vpmu_vm_threads %v, want 9", got)
	}
	for _, k := range withPrefix(s2, promUp) {
		if s2[k] != 1 {
			t.Errorf("%s = %v while the guest runs", k, s2[k])
		}
	}
}

// TestVMUnknownSyscalls runs a guest that makes 20,000 system calls with
// distinct numbers no x86-64 system call has, and one unimplemented call
// (acct): the VMM's metrics stay the same handful of series, with the
// unknown calls in one counter, the unimplemented one named, and the
// whole exposition small.
func TestVMUnknownSyscalls(t *testing.T) {
	prog := vmGuest(t)
	const n = 20000
	vm := newVM(t, "syscalls", 1, nil, io.Discard)
	vt, err := NewVMTarget(vm, VMOptions{Name: "bogus", PerThread: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st, err := vm.Run(ctx, prog, []string{prog, "bogus", strconv.Itoa(n)}); err != nil || st.Int() != 0 {
		t.Fatalf("guest: %v, %v (1: a call did not return ENOSYS)", st, err)
	}
	st := vm.Stats()
	if st.UnknownSyscalls != n || st.FirstUnknownSyscall != 100000 {
		t.Errorf("%d unknown system calls, the first %d; want %d, 100000", st.UnknownSyscalls, st.FirstUnknownSyscall, n)
	}
	if !slices.Equal(st.Unimplemented, []string{"acct"}) {
		t.Errorf("unimplemented %q, want acct only", st.Unimplemented)
	}
	vmm := vt.VMMCollector()
	s := series(t, newTestCollector(t, vt), vmm)
	if got := s[`vpmu_vm_unknown_syscalls_total{target="vm",vm="bogus"}`]; got != n {
		t.Errorf("vpmu_vm_unknown_syscalls_total %v, want %d", got, n)
	}
	if got := withPrefix(s, promVMUnimplemented); len(got) != 1 || got[0] != `vpmu_vm_unimplemented_syscall_info{syscall="acct",target="vm",vm="bogus"}` {
		t.Errorf("unimplemented series %q, want acct only", got)
	}
	// One VCPU: 5 exit reasons plus 23 VMM series, one for acct; one
	// counted event at 3 levels (total, VCPU, thread) with 6 metrics,
	// and the target's 2.
	if len(s) > 5+23+1+3*6+2 {
		t.Errorf("%d series after %d unknown system calls, want at most %d", len(s), n, 5+23+1+3*6+2)
	}
	if size := len(exposition(t, vmm)); size > 8<<10 {
		t.Errorf("the VMM's exposition is %d bytes", size)
	}
	problems, err := promtestutil.CollectAndLint(vmm)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestVMTargetChurn runs a guest that creates and joins 2000 threads one
// after another, then waits (a thread-per-request server in small), in
// a VM configured as vpmu run --metrics configures it (VMExitedThreads),
// without and with per-thread rows. The virtual PMU lists no exited
// thread, or the last 1024; the target's series and state are bounded by
// that; once the program has ended the totals, which count every thread,
// equal the VM's own count of system calls and the VCPUs' sums.
func TestVMTargetChurn(t *testing.T) {
	const n = 2000
	for _, perThread := range []bool{false, true} {
		t.Run(fmt.Sprintf("PerThread=%v", perThread), func(t *testing.T) {
			vm, work, end := serveGuest(t, "syscalls,task-clock", VMExitedThreads(perThread), "churn", strconv.Itoa(n))
			vt, err := NewVMTarget(vm, VMOptions{Name: "churn", PerThread: perThread})
			if err != nil {
				t.Fatal(err)
			}
			c := newTestCollector(t, vt)
			work()
			series(t, c) // while the program runs
			end()
			s := series(t, c, vt.VMMCollector())
			wantListed := 0 // every thread has exited
			if perThread {
				wantListed = vmExitedThreadsListed
			}
			if listed := len(vm.VPMU().Counts().Threads); listed != wantListed {
				t.Errorf("the virtual PMU lists %d threads, want %d", listed, wantListed)
			}
			tids := len(withPrefix(s, `vpmu_events_total{comm="vmguest",event="syscalls",`))
			wantTIDs, slack := 0, 0
			if perThread {
				// The first scrape saw the main thread and the
				// last 1024 workers; the main thread exited
				// since, and the worker that exited first of
				// those is no longer listed but still served.
				// On a loaded host consecutive workers' exits
				// can be recorded out of order, so that a few
				// more workers were seen by one scrape and not
				// the other: the bound matters, not the count.
				wantTIDs, slack = vmExitedThreadsListed+1, 8
			}
			for _, got := range []int{tids, len(vt.threads), len(vt.order)} {
				if got < wantTIDs || got > wantTIDs+slack {
					t.Errorf("%d threads with series, %d known to the target (%d in order), want %d (+%d)", tids, len(vt.threads), len(vt.order), wantTIDs, slack)
					break
				}
			}
			if got := s[`vpmu_vm_threads_created_total{target="vm",vm="churn"}`]; got != n+1 {
				t.Errorf("vpmu_vm_threads_created_total %v, want %d", got, n+1)
			}
			// Each worker made getpid and exit, the main thread a
			// clone per worker, futex waits, the "ready" write, two
			// reads, 1000 getpid, the "ok" write and exit_group.
			total := s[`vpmu_events_total{event="syscalls",target="vm",vm="churn"}`]
			vcpus := s[`vpmu_events_total{event="syscalls",target="vm",vcpu="0",vm="churn"}`] + s[`vpmu_events_total{event="syscalls",target="vm",vcpu="1",vm="churn"}`]
			if st := vm.Stats(); total != vcpus || total != float64(st.Syscalls) || total < 3*n+1005 {
				t.Errorf("syscalls: total %v, VCPUs %v, the VM counted %d; want them equal, at least %d", total, vcpus, st.Syscalls, 3*n+1005)
			}
		})
	}
}
