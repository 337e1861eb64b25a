package exporters

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vpmu/vpmu/hypervisor"
)

// vmCollectors returns a PromCollector of a VMTarget over f and the
// target's VMM collector.
func vmCollectors(t testing.TB, f *fakeVM, opts VMOptions) (*VMTarget, *PromCollector, prometheus.Collector) {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "guest"
	}
	vt, err := newVMTarget(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return vt, newTestCollector(t, vt), vt.VMMCollector()
}

// series gathers the collectors in a pedantic registry and returns every
// series as `name{label="value",...}` (labels sorted) with its value.
func series(t testing.TB, cs ...prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// withPrefix lists the series of s that start with prefix, sorted.
func withPrefix(s map[string]float64, prefix string) []string {
	var out []string
	for k := range s {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestVMLint lints every family a VM exports (events per VM, VCPU and
// thread, live and exited, a not-supported event, and every VMM metric)
// over several scrapes, and checks that the VMM collector's descriptors
// match what it collects (pedantic registry).
func TestVMLint(t *testing.T) {
	f := newFakeVM(true)
	_, c, vmm := vmCollectors(t, f, VMOptions{PerThread: true})
	for i := 0; i < 3; i++ {
		for name, coll := range map[string]prometheus.Collector{"events": c, "vmm": vmm} {
			problems, err := testutil.CollectAndLint(coll)
			if err != nil {
				t.Fatalf("scrape %d: %s: %v", i, name, err)
			}
			for _, p := range problems {
				t.Errorf("scrape %d: %s: lint: %s: %s", i, name, p.Metric, p.Text)
			}
		}
	}
	s := series(t, c, vmm)
	families := map[string]bool{}
	for k := range s {
		families[k[:strings.IndexByte(k, '{')]] = true
	}
	for _, want := range []string{promEvents, promEventsRaw, promEnabled, promRunning, promRatio, promUp, promNotSupported,
		promDuration, promErrors, promVMExits, promVMDenials, promVMFirstDenial, promVMEntryCost, promVMExitCost,
		promVMTSCHertz, promVMInfo, promVMCalibWarning, promVMThreads, promVMThreadsCreated, promVMMemCommitted,
		promVMMemLimit, promVMUnimplemented, promVMUnknownSyscall} {
		if !families[want] {
			t.Errorf("family %s not exported", want)
		}
	}
}

// TestVMTargetRows checks the VM's series at each level: totals, VCPUs,
// threads (live and exited), and the not-supported event once, in the
// totals.
func TestVMTargetRows(t *testing.T) {
	f := newFakeVM(true)
	_, c, _ := vmCollectors(t, f, VMOptions{PerThread: true})
	s := series(t, c)
	for k, want := range map[string]float64{
		`vpmu_events_total{event="syscalls",target="vm",vm="guest"}`:                                                          160,
		`vpmu_events_total{event="syscalls",target="vm",vcpu="0",vm="guest"}`:                                                 100,
		`vpmu_events_total{event="syscalls",target="vm",vcpu="1",vm="guest"}`:                                                 60,
		`vpmu_events_total{comm="guest",event="syscalls",target="vm",tid="1000",vm="guest"}`:                                  100,
		`vpmu_events_total{comm="guest",event="syscalls",target="vm",tid="1001",vm="guest"}`:                                  60,
		`vpmu_events_total{comm="guest",event="task-clock",target="vm",tid="1001",vm="guest"}`:                                20e6,
		`vpmu_event_enabled_seconds_total{event="task-clock",target="vm",vm="guest"}`:                                         0.05,
		`vpmu_event_running_seconds_total{event="task-clock",target="vm",vm="guest"}`:                                         0.05,
		`vpmu_event_scaling_ratio{event="syscalls",target="vm",vcpu="1",vm="guest"}`:                                          1,
		`vpmu_event_up{event="syscalls",target="vm",vm="guest"}`:                                                              1,
		`vpmu_event_up{comm="guest",event="syscalls",target="vm",tid="1000",vm="guest"}`:                                      1,
		`vpmu_event_up{comm="guest",event="syscalls",reason="exited",target="vm",tid="1001",vm="guest"}`:                      0,
		`vpmu_event_up{event="minor-faults",reason="not_supported",target="vm",vm="guest"}`:                                   0,
		`vpmu_event_not_supported_info{event="minor-faults",message="` + fakeMinorFaults.Reason + `",target="vm",vm="guest"}`: 1,
	} {
		if got, ok := s[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if got := withPrefix(s, `vpmu_event_up{event="minor-faults"`); len(got) != 1 {
		t.Errorf("minor-faults is reported %d times, want once in the totals: %q", len(got), got)
	}
	// 3 levels: 1 total + 2 VCPUs + 2 threads, 2 counted events, 6
	// metrics each (not every series is present: no ratio without
	// enabled time), plus 2 for the not-supported event.
	if got := len(withPrefix(s, "vpmu_event")); got != 5*2*6+2 {
		t.Errorf("%d series of counters, want %d", got, 5*2*6+2)
	}
}

// TestVMTargetNoThreads checks that without PerThread no series has a
// tid, and that the VM totals and VCPUs are still there.
func TestVMTargetNoThreads(t *testing.T) {
	_, c, _ := vmCollectors(t, newFakeVM(false), VMOptions{})
	s := series(t, c)
	for k := range s {
		if strings.Contains(k, "tid=") {
			t.Errorf("a thread series without PerThread: %s", k)
		}
	}
	if _, ok := s[`vpmu_events_total{event="syscalls",target="vm",vcpu="1",vm="guest"}`]; !ok {
		t.Error("no VCPU series")
	}
}

// TestVMTargetExitedThreadTTL follows an exited thread's series: they
// stay with the final counts for the TTL after the first scrape that
// found it exited, then go; the totals keep its counts.
func TestVMTargetExitedThreadTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	const ttl = time.Minute
	worker := `vpmu_event_up{comm="guest",event="syscalls",reason="exited",target="vm",tid="1001",vm="guest"}`
	total := `vpmu_events_total{event="syscalls",target="vm",vm="guest"}`
	for _, tc := range []struct {
		name    string
		ttl     time.Duration
		present []time.Duration // offsets from the first exited scrape
		absent  []time.Duration
	}{
		{"ttl", ttl, []time.Duration{0, ttl - time.Nanosecond}, []time.Duration{ttl, 2 * ttl}},
		{"forever", -1, []time.Duration{0, ttl, 1000 * time.Hour}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVM(false)
			_, c, _ := vmCollectors(t, f, VMOptions{PerThread: true, ExitedThreadTTL: tc.ttl, Now: clock})
			series(t, c) // the worker is live
			f.set(func(f *fakeVM) {
				f.live = 1
				f.counts.Threads[1].Exited = true
			})
			start := now
			check := func(d time.Duration, present bool) {
				now = start.Add(d)
				s := series(t, c)
				if _, ok := s[worker]; ok != present {
					t.Errorf("%v after the thread exited: series present %v, want %v", d, ok, present)
				}
				if s[total] != 160 {
					t.Errorf("%v after the thread exited: total %v, want 160", d, s[total])
				}
			}
			for _, d := range tc.present {
				check(d, true)
			}
			for _, d := range tc.absent {
				check(d, false)
			}
		})
	}
}

// TestVMTargetProgramEnded checks that once no thread is left every
// counted row is final (reason exited) and the not-supported event stays
// not supported.
func TestVMTargetProgramEnded(t *testing.T) {
	f := newFakeVM(true)
	_, c, vmm := vmCollectors(t, f, VMOptions{PerThread: true})
	series(t, c)
	f.set(func(f *fakeVM) {
		f.live = 0
		f.counts.Threads[0].Exited = true
	})
	s := series(t, c, vmm)
	var up []string
	for _, k := range withPrefix(s, promUp) {
		if !strings.Contains(k, `reason="exited"`) && !strings.Contains(k, `event="minor-faults",reason="not_supported"`) {
			up = append(up, k)
		}
	}
	if len(up) > 0 {
		t.Errorf("series not marked exited after the program ended: %q", up)
	}
	if got := s[`vpmu_vm_threads{target="vm",vm="guest"}`]; got != 0 {
		t.Errorf("vpmu_vm_threads %v after the end, want 0", got)
	}
	if got := s[`vpmu_vm_threads_created_total{target="vm",vm="guest"}`]; got != 2 {
		t.Errorf("vpmu_vm_threads_created_total %v, want 2", got)
	}
}

// TestVMMCollector checks the VMM's metrics of the fake VM: exits by
// reason (other never going backwards), refusals of every kind (0 for
// those that never happened), calibration in seconds, memory.
func TestVMMCollector(t *testing.T) {
	f := newFakeVM(false)
	_, _, vmm := vmCollectors(t, f, VMOptions{})
	s := series(t, vmm)
	want := map[string]float64{
		`vpmu_vm_exits_total{reason="io",target="vm",vcpu="0",vm="guest"}`:                                                100,
		`vpmu_vm_exits_total{reason="exception",target="vm",vcpu="0",vm="guest"}`:                                         2,
		`vpmu_vm_exits_total{reason="interrupt",target="vm",vcpu="0",vm="guest"}`:                                         25,
		`vpmu_vm_exits_total{reason="mmio",target="vm",vcpu="0",vm="guest"}`:                                              0,
		`vpmu_vm_exits_total{reason="other",target="vm",vcpu="0",vm="guest"}`:                                             3,
		`vpmu_vm_exits_total{reason="other",target="vm",vcpu="1",vm="guest"}`:                                             0,
		`vpmu_vm_sandbox_denials_total{kind="write",target="vm",vm="guest"}`:                                              3,
		`vpmu_vm_sandbox_denials_total{kind="network",target="vm",vm="guest"}`:                                            1,
		`vpmu_vm_sandbox_denials_total{kind="device",target="vm",vm="guest"}`:                                             0,
		`vpmu_vm_sandbox_denials_total{kind="memory",target="vm",vm="guest"}`:                                             0,
		`vpmu_vm_sandbox_first_denial_info{kind="network",message="socket(AF_INET, SOCK_STREAM)",target="vm",vm="guest"}`: 1,
		// 2 GHz: 30,000 ticks are 15 µs.
		`vpmu_vm_entry_cost_seconds{stat="median",target="vm",vm="guest"}`:                                                                     15e-6,
		`vpmu_vm_entry_cost_seconds{stat="mean",target="vm",vm="guest"}`:                                                                       15.5e-6,
		`vpmu_vm_exit_cost_seconds{stat="min",target="vm",vm="guest"}`:                                                                         11e-6,
		`vpmu_vm_tsc_frequency_hertz{target="vm",vm="guest"}`:                                                                                  2e9,
		`vpmu_vm_info{host="pvm",target="vm",tsc_source="KVM_GET_TSC_KHZ",vm="guest"}`:                                                         1,
		`vpmu_vm_calibration_warning_info{message="` + f.calib.Warning + `",target="vm",vm="guest"}`:                                           1,
		`vpmu_vm_threads{target="vm",vm="guest"}`:                                                                                              2,
		`vpmu_vm_memory_committed_bytes{target="vm",vm="guest"}`:                                                                               8 << 20,
		`vpmu_vm_memory_limit_bytes{target="vm",vm="guest"}`:                                                                                   2 << 30,
		`vpmu_vm_unimplemented_syscall_info{syscall="io_uring_setup",target="vm",vm="guest"}`:                                                  1,
		`vpmu_vm_unknown_syscalls_total{target="vm",vm="guest"}`:                                                                               20000,
		`vpmu_vm_sandbox_first_denial_info{kind="write",message="open for writing /etc/passwd: read-only file system",target="vm",vm="guest"}`: 1,
	}
	for k, w := range want {
		if got, ok := s[k]; !ok || got != w {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, w)
		}
	}

	// Read while the VCPU runs, the kinds can add up to more than the
	// total; the other exits then keep their highest value.
	f.set(func(f *fakeVM) {
		f.exits[0] = hypervisor.VCPUExits{VCPU: 0, Total: 140, IO: 110, Exception: 2, Interrupt: 28}
	})
	if got := series(t, vmm)[`vpmu_vm_exits_total{reason="other",target="vm",vcpu="0",vm="guest"}`]; got != 3 {
		t.Errorf("other exits %v after a racy read, want 3 (never backwards)", got)
	}
	f.set(func(f *fakeVM) {
		f.exits[0] = hypervisor.VCPUExits{VCPU: 0, Total: 150, IO: 110, Exception: 2, Interrupt: 28}
	})
	if got := series(t, vmm)[`vpmu_vm_exits_total{reason="other",target="vm",vcpu="0",vm="guest"}`]; got != 10 {
		t.Errorf("other exits %v, want 10", got)
	}

	// Without a memory cap there is no limit series; a guest path that
	// is not UTF-8 does not break the scrape.
	f.set(func(f *fakeVM) {
		f.stats.Memory.Limit = 0
		f.stats.Denials[0].First = "open for writing /tmp/\xff: read-only file system"
	})
	s = series(t, vmm)
	if _, ok := s[`vpmu_vm_memory_limit_bytes{target="vm",vm="guest"}`]; ok {
		t.Error("a memory limit series without a limit")
	}
	if _, ok := s[`vpmu_vm_sandbox_first_denial_info{kind="write",message="open for writing /tmp/`+"\uFFFD"+`: read-only file system",target="vm",vm="guest"}`]; !ok {
		t.Errorf("the refusal with a non-UTF-8 path is missing: %q", withPrefix(s, promVMFirstDenial))
	}
}

func TestVMTargetErrors(t *testing.T) {
	for _, name := range []string{"", "\xff"} {
		if _, err := newVMTarget(newFakeVM(false), VMOptions{Name: name}); err == nil || !strings.Contains(err.Error(), "name") {
			t.Errorf("name %q: error %v, want one about the name", name, err)
		}
	}
	if _, err := NewVMTarget(nil, VMOptions{Name: "x"}); err == nil {
		t.Error("no error for a nil VM")
	}
	vt, err := newVMTarget(newFakeVM(false), VMOptions{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := vt.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a canceled context: %v", err)
	}
	f := newFakeVM(false)
	f.counts.Errs = f.counts.Errs[:1]
	vt, _ = newVMTarget(f, VMOptions{Name: "x"})
	if _, err := vt.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("inconsistent counts: error %v", err)
	}
	if got := vt.Info().String(); got != `vm{vm="x"}` {
		t.Errorf("Info %s", got)
	}
}

// TestVMTargetThreadsGone follows a thread the VM stops listing
// (VPMUConfig.ExitedThreads): an exited thread a Read has seen keeps its
// final rows for the TTL from the target's own copy, then the target
// forgets it; a thread the VM stopped listing before any Read found it
// exited loses its rows at once. The target's state keeps only the
// threads it serves.
func TestVMTargetThreadsGone(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start
	clock := func() time.Time { return now }
	const ttl = time.Minute
	f := newFakeVM(false)
	vt, c, _ := vmCollectors(t, f, VMOptions{PerThread: true, ExitedThreadTTL: ttl, Now: clock})
	worker := func(tid string) string {
		return `vpmu_events_total{comm="guest",event="syscalls",target="vm",tid="` + tid + `",vm="guest"}`
	}
	workerUp := `vpmu_event_up{comm="guest",event="syscalls",reason="exited",target="vm",tid="1001",vm="guest"}`
	series(t, c)
	f.set(func(f *fakeVM) {
		f.live = 1
		f.counts.Threads[1].Exited = true
	})
	series(t, c) // the worker is seen exited
	f.set(func(f *fakeVM) { f.counts.Threads = f.counts.Threads[:1] })
	for _, d := range []time.Duration{0, ttl / 2, ttl - time.Nanosecond} {
		now = start.Add(d)
		s := series(t, c)
		if s[worker("1001")] != 60 {
			t.Errorf("%v after the exit, no longer listed: the worker's syscalls %v, want its final 60", d, s[worker("1001")])
		}
		if _, ok := s[workerUp]; !ok {
			t.Errorf("%v after the exit: the worker's rows are not marked exited", d)
		}
	}
	now = start.Add(ttl)
	s := series(t, c)
	if got := withPrefix(s, "vpmu_event_up{comm=\"guest\",event=\"syscalls\",reason=\"exited\""); len(got) != 0 {
		t.Errorf("rows of exited threads after the TTL: %q", got)
	}
	if len(vt.threads) != 1 || len(vt.order) != 1 {
		t.Errorf("the target remembers %d threads (%d in order), want the main thread only", len(vt.threads), len(vt.order))
	}

	// A thread seen live that the VM stops listing before a Read saw
	// it exited: no final counts to serve.
	f.set(func(f *fakeVM) {
		f.counts.Threads = append(f.counts.Threads, hypervisor.VPMUThreadCounts{TID: 1002, Comm: "guest", Values: vmValues(5, 1)})
	})
	if s := series(t, c); s[worker("1002")] != 5 {
		t.Errorf("thread 1002: %v system calls, want 5", s[worker("1002")])
	}
	f.set(func(f *fakeVM) { f.counts.Threads = f.counts.Threads[:1] })
	s = series(t, c)
	if _, ok := s[worker("1002")]; ok {
		t.Error("thread 1002 still has rows after the VM stopped listing it")
	}
	if len(vt.threads) != 1 || len(vt.order) != 1 {
		t.Errorf("the target remembers %d threads (%d in order), want the main thread only", len(vt.threads), len(vt.order))
	}
	if s[`vpmu_events_total{event="syscalls",target="vm",vm="guest"}`] != 160 {
		t.Errorf("total %v, want 160", s[`vpmu_events_total{event="syscalls",target="vm",vm="guest"}`])
	}
}
