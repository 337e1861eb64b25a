package hypervisor

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
)

// oracle is an independent record of what the VMM did, per thread, made
// from Hooks: the ground truth the virtual PMU's counts must equal.
type oracle struct {
	NopHooks
	mu       sync.Mutex
	syscalls map[int]uint64 // tid -> system calls (OnSyscall)
	switches map[int]uint64 // tid -> ThreadOut for any reason but exit
	migr     map[int]uint64 // tid -> ThreadIn on another VCPU than its last
	exits    map[int]uint64 // tid -> KVM_RUN returns while it ran
	last     map[int]int    // tid -> last VCPU
	onVCPU   map[int]int    // vcpu -> tid
	created  []int
	gone     map[int]bool
}

func newOracle() *oracle {
	return &oracle{syscalls: map[int]uint64{}, switches: map[int]uint64{}, migr: map[int]uint64{},
		exits: map[int]uint64{}, last: map[int]int{}, onVCPU: map[int]int{}, gone: map[int]bool{}}
}

func (o *oracle) OnSyscall(tid, _, _ int) { o.mu.Lock(); o.syscalls[tid]++; o.mu.Unlock() }
func (o *oracle) ThreadIn(tid, v int) {
	o.mu.Lock()
	if l, ok := o.last[tid]; ok && l != v {
		o.migr[tid]++
	}
	o.last[tid], o.onVCPU[v] = v, tid
	o.mu.Unlock()
}
func (o *oracle) ThreadOut(tid, _ int, r SwitchReason) {
	o.mu.Lock()
	if r != SwitchExited {
		o.switches[tid]++
	}
	o.mu.Unlock()
}
func (o *oracle) AfterRun(v int, _ kvm.ExitReason) {
	o.mu.Lock()
	o.exits[o.onVCPU[v]]++
	o.mu.Unlock()
}
func (o *oracle) ThreadCreated(_, child int, _ uint64) {
	o.mu.Lock()
	o.created = append(o.created, child)
	o.mu.Unlock()
}
func (o *oracle) ThreadExited(tid int) { o.mu.Lock(); o.gone[tid] = true; o.mu.Unlock() }

// tallySpec is what the tally tests count.
const tallySpec = "syscalls,vm-exits,context-switches,cpu-migrations,task-clock,ref-cycles,page-faults,pv-calls"

// runCounted runs prog in a VM that counts spec, with an oracle.
func runCounted(t *testing.T, cfg Config, spec string, prog string, args ...string) (guestResult, VPMUCounts, *oracle, time.Duration) {
	t.Helper()
	testutil.MustHaveKVM(t)
	o := newOracle()
	cfg.Hooks = o
	cfg.VPMU.Spec = pmu.MustParseSpec(spec)
	vm, r, elapsed := runToSuccess(t, cfg, prog, args...)
	return r, vm.VPMU().Counts(), o, elapsed
}

// runToSuccess runs prog in a new VM with cfg, its output captured, and
// fails the test unless the program exits 0. It returns the VM, which
// the test's cleanup closes, for what the run left behind.
func runToSuccess(t *testing.T, cfg Config, prog string, args ...string) (*VM, guestResult, time.Duration) {
	t.Helper()
	var stdout, stderr bytesBuffer
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	vm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	st, err := vm.Run(ctx, prog, append([]string{prog}, args...))
	elapsed := time.Since(start)
	r := guestResult{stdout: stdout.String(), stderr: stderr.String(), status: st, err: err, stats: vm.Stats()}
	if err != nil || st.Int() != 0 {
		t.Fatalf("guest: %v %v\nstdout:\n%s\nstderr:\n%s", st, err, r.stdout, r.stderr)
	}
	return vm, r, elapsed
}

// eventIndex returns the position of an event in the counts.
func eventIndex(t *testing.T, c VPMUCounts, name string) int {
	t.Helper()
	for i, e := range c.Events {
		if e.Name == name {
			if c.Errs[i] != nil {
				t.Fatalf("%s not counted: %v", name, c.Errs[i])
			}
			return i
		}
	}
	t.Fatalf("no event %s in %v", name, c.Events)
	return -1
}

// TestVPMUExactTallies runs 8 threads on 2 VCPUs and 1 PCPU, each making a
// distinct known number of system calls, and checks every per-thread count
// of the virtual PMU against the known number and against the oracle, and
// that the threads sum to the VCPU totals and to the VM's own counts.
func TestVPMUExactTallies(t *testing.T) {
	prog := buildC(t, "vpmu_tally")
	const n = 8
	r, c, o, elapsed := runCounted(t, Config{VCPUs: 2, PCPUs: 1, TimeSlice: 2 * time.Millisecond}, tallySpec, prog, "8")
	if r.stdout != "8 threads done\n" {
		t.Fatalf("guest output %q", r.stdout)
	}
	sys, exits := eventIndex(t, c, "syscalls"), eventIndex(t, c, "vm-exits")
	cs, mig := eventIndex(t, c, "context-switches"), eventIndex(t, c, "cpu-migrations")
	clock, ref := eventIndex(t, c, "task-clock"), eventIndex(t, c, "ref-cycles")
	if len(c.Threads) != n+1 {
		t.Fatalf("%d threads counted, want %d", len(c.Threads), n+1)
	}
	var switches, migrations, guestTime uint64
	for k, th := range c.Threads {
		if !th.Exited {
			t.Errorf("thread %d not marked exited", th.TID)
		}
		if k > 0 {
			want := uint64(100*k + k - 1 + 1) // thread k-1: 100*k+(k-1) getpid, then exit
			if got := th.Values[sys].Raw; got != want {
				t.Errorf("thread %d (worker %d): %d system calls, want exactly %d", th.TID, k-1, got, want)
			}
		}
		checks := []struct {
			name      string
			got, want uint64
		}{
			{"syscalls", th.Values[sys].Raw, o.syscalls[th.TID]},
			{"vm-exits", th.Values[exits].Raw, o.exits[th.TID]},
			{"context-switches", th.Values[cs].Raw, o.switches[th.TID]},
			{"cpu-migrations", th.Values[mig].Raw, o.migr[th.TID]},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("thread %d: %s = %d, the oracle saw %d", th.TID, ch.name, ch.got, ch.want)
			}
		}
		switches += th.Values[cs].Raw
		migrations += th.Values[mig].Raw
		// A thread of a few short runs may have no guest time left once
		// the calibrated entry and exit costs are taken off, when a
		// loaded host made the calibration high; the program as a
		// whole has.
		guestTime += th.Values[clock].Raw
		if tc := th.Values[clock]; tc.Enabled > elapsed*2 || time.Duration(tc.Raw) > elapsed*2 {
			t.Errorf("thread %d: task-clock %v (enabled %v) in a %v run on 2 VCPUs", th.TID, time.Duration(tc.Raw), tc.Enabled, elapsed)
		}
	}
	if guestTime == 0 {
		t.Error("no guest time in any thread")
	}
	if switches == 0 || migrations == 0 {
		t.Errorf("the schedule had %d context switches and %d migrations; the test needs both", switches, migrations)
	}
	// Sums over threads equal sums over VCPUs equal the VM's own counts.
	for _, ev := range []struct {
		i  int
		vm uint64
	}{{sys, r.stats.Syscalls}, {exits, r.stats.Exits}, {cs, 0}, {mig, 0}, {ref, 0}} {
		var vcpus uint64
		for _, v := range c.VCPUs {
			vcpus += v.Values[ev.i].Raw
		}
		if tot := c.Total[ev.i].Raw; tot != vcpus || (ev.vm != 0 && tot != ev.vm) {
			t.Errorf("%s: threads sum to %d, VCPUs to %d, the VM counted %d", c.Events[ev.i], tot, vcpus, ev.vm)
		}
	}
	if busy := time.Duration(c.Total[clock].Raw); busy > elapsed {
		t.Errorf("guest time %v on 1 PCPU in a %v run", busy, elapsed)
	}
	t.Logf("%d threads, %d system calls, %d exits, %d switches, %d migrations, guest time %v in %v; calibration %+v",
		len(c.Threads), c.Total[sys].Raw, c.Total[exits].Raw, switches, migrations, time.Duration(c.Total[clock].Raw), elapsed, c.Calibration)
}

// bytesBuffer is a bytes.Buffer safe for the VCPU goroutines' writes.
type bytesBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *bytesBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *bytesBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}

// churnOracle is an oracle that also records, at every thread exit, the
// most thread entries the virtual PMU held.
type churnOracle struct {
	*oracle
	vm         *VM // set before Run
	maxEntries int // guarded by vm.pmu.mu
}

func (o *churnOracle) ThreadExited(tid int) {
	o.oracle.ThreadExited(tid)
	p := o.vm.pmu
	p.mu.Lock()
	o.maxEntries = max(o.maxEntries, len(p.threads))
	p.mu.Unlock()
}

// TestVPMUExitedThreadsBounded runs a program that creates and joins
// 2000 threads one after another (a thread-per-request server in small)
// with each VPMUConfig.ExitedThreads policy: every thread listed (vpmu
// stat --vm), none (vpmu run --metrics without per-thread rows), the
// last 16. The virtual PMU's thread entries stay bounded by the policy
// during the whole run, Counts lists what it says, and the totals are
// exact whatever it drops: equal to the VM's own system-call and exit
// counts, to the VCPUs' sums and to the oracle's, and, with every thread
// listed, to the sum over the threads.
func TestVPMUExitedThreadsBounded(t *testing.T) {
	testutil.MustHaveKVM(t)
	prog := buildC(t, "threads_churn")
	const n = 2000
	for _, tc := range []struct {
		keep, listed, maxEntries int
	}{
		{0, n + 1, n + 1},
		// At most 2 threads live at once; dropped entries wait for
		// a compaction (64 of them, and half the list).
		{-1, 0, 2 + 63},
		{16, 16, 18 + 63},
	} {
		t.Run(fmt.Sprintf("ExitedThreads=%d", tc.keep), func(t *testing.T) {
			o := &churnOracle{oracle: newOracle()}
			var stdout, stderr bytesBuffer
			vm, err := New(Config{VCPUs: 2, PCPUs: 2, Hooks: o, Stdout: &stdout, Stderr: &stderr,
				VPMU: VPMUConfig{Spec: pmu.MustParseSpec(tallySpec), ExitedThreads: tc.keep}})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			o.vm = vm
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if st, err := vm.Run(ctx, prog, []string{prog, strconv.Itoa(n)}); err != nil || st.Int() != 0 || stdout.String() != "2000 threads joined\n" {
				t.Fatalf("guest: %v %v, stdout %q, stderr %q", st, err, stdout.String(), stderr.String())
			}
			u := vm.VPMU()
			c, tot := u.Counts(), u.TotalCounts()
			stats := vm.Stats()
			if live, created := u.Threads(); live != 0 || created != n+1 || len(o.created) != n+1 {
				t.Errorf("Threads() = %d live, %d created; the oracle saw %d created; want 0, %d, %d", live, created, len(o.created), n+1, n+1)
			}
			if len(c.Threads) != tc.listed || len(tot.Threads) != 0 {
				t.Errorf("Counts lists %d threads, TotalCounts %d; want %d and 0", len(c.Threads), len(tot.Threads), tc.listed)
			}
			vm.pmu.mu.Lock()
			maxEntries := o.maxEntries
			vm.pmu.mu.Unlock()
			if maxEntries > tc.maxEntries {
				t.Errorf("the virtual PMU held up to %d thread entries, want at most %d", maxEntries, tc.maxEntries)
			}
			sys, exits := eventIndex(t, c, "syscalls"), eventIndex(t, c, "vm-exits")
			cs, mig, ref := eventIndex(t, c, "context-switches"), eventIndex(t, c, "cpu-migrations"), eventIndex(t, c, "ref-cycles")
			var oracleSys, oracleExits uint64
			for tid, v := range o.syscalls {
				oracleSys += v
				oracleExits += o.exits[tid]
			}
			for _, ev := range []struct {
				i          int
				vm, oracle uint64
			}{{sys, stats.Syscalls, oracleSys}, {exits, stats.Exits, oracleExits}, {cs, 0, 0}, {mig, 0, 0}, {ref, 0, 0}} {
				var vcpus uint64
				for _, v := range c.VCPUs {
					vcpus += v.Values[ev.i].Raw
				}
				total := c.Total[ev.i].Raw
				if total != vcpus || tot.Total[ev.i] != c.Total[ev.i] || ev.vm != 0 && (total != ev.vm || total != ev.oracle) {
					t.Errorf("%s: total %d (TotalCounts %d), VCPUs %d, the VM counted %d, the oracle %d",
						c.Events[ev.i], total, tot.Total[ev.i].Raw, vcpus, ev.vm, ev.oracle)
				}
			}
			for i := range c.Events {
				if c.Errs[i] != nil || tc.listed != n+1 {
					continue
				}
				var sum uint64
				for _, th := range c.Threads {
					sum += th.Values[i].Raw
				}
				if sum != c.Total[i].Raw {
					t.Errorf("%s: the threads sum to %d, the total is %d", c.Events[i], sum, c.Total[i].Raw)
				}
			}
			for k, th := range c.Threads {
				if !th.Exited || th.Values[sys].Raw != o.syscalls[th.TID] || th.Values[sys].Raw == 0 {
					t.Errorf("thread %d: exited %v, %d system calls, the oracle saw %d", th.TID, th.Exited, th.Values[sys].Raw, o.syscalls[th.TID])
				}
				if k > 0 && th.TID <= c.Threads[k-1].TID {
					t.Errorf("threads out of creation order: %d after %d", th.TID, c.Threads[k-1].TID)
				}
			}
			if tc.keep > 0 {
				// The last to exit: the main thread (listed first:
				// creation order) and the last workers. A worker's
				// exit is recorded on its VCPU after its joiner
				// woke, so on a loaded host the next worker can
				// exit first: the kept workers are among the last
				// 2*keep, not exactly the last keep-1.
				last := 1000 + n - 2*tc.keep
				if len(c.Threads) != tc.keep || c.Threads[0].TID != 1000 || c.Threads[1].TID <= last {
					t.Errorf("%d kept threads %d, %d, ...; want the main thread and %d of the workers after %d",
						len(c.Threads), c.Threads[0].TID, c.Threads[1].TID, tc.keep-1, last)
				}
			}
			t.Logf("%d system calls, %d exits, %d thread entries at most", c.Total[sys].Raw, c.Total[exits].Raw, maxEntries)
		})
	}
}
