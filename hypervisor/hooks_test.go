package hypervisor

import (
	"fmt"
	"sync"
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// hookEvent is one recorded hook call.
type hookEvent struct {
	kind          string // "vin", "vout", "mig", "tin", "tout", "run", "ran", "sys"
	vcpu, pcpu    int    // pcpu: slot for vin/vout, destination for mig
	from, tid, nr int
}

// recorder records hook calls in the order they happen.
type recorder struct {
	mu     sync.Mutex
	events []hookEvent
}

func (r *recorder) add(e hookEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) VCPUIn(v, p int)      { r.add(hookEvent{kind: "vin", vcpu: v, pcpu: p}) }
func (r *recorder) VCPUOut(v, p int)     { r.add(hookEvent{kind: "vout", vcpu: v, pcpu: p}) }
func (r *recorder) Migrate(v, f, to int) { r.add(hookEvent{kind: "mig", vcpu: v, from: f, pcpu: to}) }
func (r *recorder) ThreadIn(t, v int)    { r.add(hookEvent{kind: "tin", vcpu: v, tid: t}) }
func (r *recorder) ThreadOut(t, v int, _ SwitchReason) {
	r.add(hookEvent{kind: "tout", vcpu: v, tid: t})
}
func (r *recorder) BeforeRun(v int)                  { r.add(hookEvent{kind: "run", vcpu: v}) }
func (r *recorder) AfterRun(v int, _ kvm.ExitReason) { r.add(hookEvent{kind: "ran", vcpu: v}) }
func (r *recorder) OnSyscall(t, v, nr int)           { r.add(hookEvent{kind: "sys", vcpu: v, tid: t, nr: nr}) }

// hookStats counts what checkHooks saw.
type hookStats struct {
	vcpuSwitches, migrations, threadSwitches, runs, syscalls int
	threads                                                  map[int]bool
}

// checkHooks verifies the invariants documented on Hooks over a recorded
// sequence and returns counts.
func checkHooks(events []hookEvent) (hookStats, error) {
	st := hookStats{threads: map[int]bool{}}
	vcpuOn := map[int]int{}     // vcpu -> pcpu it holds
	pcpuHas := map[int]int{}    // pcpu -> vcpu on it
	lastPCPU := map[int]int{}   // vcpu -> pcpu it held last
	migrated := map[int]int{}   // vcpu -> pcpu a Migrate announced
	threadOn := map[int]int{}   // tid -> vcpu
	vcpuThread := map[int]int{} // vcpu -> tid
	inRun := map[int]bool{}
	for i, e := range events {
		fail := func(format string, args ...any) (hookStats, error) {
			return st, fmt.Errorf("event %d %+v: %s", i, e, fmt.Sprintf(format, args...))
		}
		_, held := vcpuOn[e.vcpu]
		switch e.kind {
		case "vin":
			if held {
				return fail("VCPU already on PCPU %d", vcpuOn[e.vcpu])
			}
			if v, busy := pcpuHas[e.pcpu]; busy {
				return fail("PCPU already holds VCPU %d", v)
			}
			if last, ok := lastPCPU[e.vcpu]; ok && last != e.pcpu {
				if m, ok := migrated[e.vcpu]; !ok || m != e.pcpu {
					return fail("VCPU moved from PCPU %d without Migrate", last)
				}
			}
			delete(migrated, e.vcpu)
			vcpuOn[e.vcpu], pcpuHas[e.pcpu] = e.pcpu, e.vcpu
			st.vcpuSwitches++
		case "vout":
			if !held || vcpuOn[e.vcpu] != e.pcpu {
				return fail("VCPUOut of a VCPU not on that PCPU")
			}
			if inRun[e.vcpu] {
				return fail("VCPUOut inside a run")
			}
			delete(vcpuOn, e.vcpu)
			delete(pcpuHas, e.pcpu)
			lastPCPU[e.vcpu] = e.pcpu
		case "mig":
			if held {
				return fail("Migrate while the VCPU holds a PCPU")
			}
			if lastPCPU[e.vcpu] != e.from || e.from == e.pcpu {
				return fail("Migrate from %d, but the VCPU last held %d", e.from, lastPCPU[e.vcpu])
			}
			migrated[e.vcpu] = e.pcpu
			st.migrations++
		case "tin":
			if !held {
				return fail("ThreadIn on a VCPU without a PCPU")
			}
			if v, on := threadOn[e.tid]; on {
				return fail("thread already on VCPU %d", v)
			}
			if t, busy := vcpuThread[e.vcpu]; busy {
				return fail("VCPU already runs thread %d", t)
			}
			threadOn[e.tid], vcpuThread[e.vcpu] = e.vcpu, e.tid
			st.threads[e.tid] = true
			st.threadSwitches++
		case "tout":
			if !held {
				return fail("ThreadOut on a VCPU without a PCPU")
			}
			if threadOn[e.tid] != e.vcpu || vcpuThread[e.vcpu] != e.tid {
				return fail("ThreadOut of a thread not on that VCPU")
			}
			if inRun[e.vcpu] {
				return fail("ThreadOut inside a run")
			}
			delete(threadOn, e.tid)
			delete(vcpuThread, e.vcpu)
		case "run":
			if !held || inRun[e.vcpu] {
				return fail("BeforeRun without a PCPU or twice")
			}
			if _, ok := vcpuThread[e.vcpu]; !ok {
				return fail("BeforeRun without a thread")
			}
			inRun[e.vcpu] = true
			st.runs++
		case "ran":
			if !inRun[e.vcpu] {
				return fail("AfterRun without BeforeRun")
			}
			inRun[e.vcpu] = false
		case "sys":
			if vcpuThread[e.vcpu] != e.tid || !held {
				return fail("OnSyscall for a thread not on the VCPU")
			}
			st.syscalls++
		default:
			return fail("unknown event")
		}
	}
	if len(vcpuOn) != 0 || len(threadOn) != 0 {
		return st, fmt.Errorf("at the end, VCPUs still on PCPUs %v, threads still on VCPUs %v", vcpuOn, threadOn)
	}
	return st, nil
}

func TestCheckHooksCatchesViolations(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   []hookEvent
	}{
		{"two VCPUs on one PCPU", []hookEvent{{kind: "vin", vcpu: 0, pcpu: 0}, {kind: "vin", vcpu: 1, pcpu: 0}}},
		{"VCPU on two PCPUs", []hookEvent{{kind: "vin", vcpu: 0, pcpu: 0}, {kind: "vin", vcpu: 0, pcpu: 1}}},
		{"move without Migrate", []hookEvent{{kind: "vin", pcpu: 0}, {kind: "vout", pcpu: 0}, {kind: "vin", pcpu: 1}, {kind: "vout", pcpu: 1}}},
		{"Migrate while in", []hookEvent{{kind: "vin", pcpu: 0}, {kind: "mig", from: 0, pcpu: 1}}},
		{"thread on two VCPUs", []hookEvent{{kind: "vin", vcpu: 0, pcpu: 0}, {kind: "vin", vcpu: 1, pcpu: 1}, {kind: "tin", vcpu: 0, tid: 7}, {kind: "tin", vcpu: 1, tid: 7}}},
		{"ThreadIn without PCPU", []hookEvent{{kind: "tin", vcpu: 0, tid: 7}}},
		{"run without thread", []hookEvent{{kind: "vin", pcpu: 0}, {kind: "run"}}},
		{"unbalanced at the end", []hookEvent{{kind: "vin", pcpu: 0}}},
	} {
		if _, err := checkHooks(tc.ev); err == nil {
			t.Errorf("%s: not detected", tc.name)
		}
	}
	ok := []hookEvent{
		{kind: "vin", vcpu: 0, pcpu: 0}, {kind: "tin", vcpu: 0, tid: 1}, {kind: "run"}, {kind: "ran"},
		{kind: "vout", pcpu: 0}, {kind: "mig", from: 0, pcpu: 1}, {kind: "vin", pcpu: 1},
		{kind: "sys", tid: 1}, {kind: "tout", tid: 1}, {kind: "vout", pcpu: 1},
	}
	if _, err := checkHooks(ok); err != nil {
		t.Errorf("valid sequence rejected: %v", err)
	}
}

// TestHookInvariants runs the pthreads program on more VCPUs than PCPUs
// with short slices, so that both levels switch and VCPUs migrate, and
// checks every recorded hook call.
func TestHookInvariants(t *testing.T) {
	prog := buildC(t, "threads", "-pthread")
	rec := &recorder{}
	r := runGuest(t, Config{VCPUs: 3, PCPUs: 2, TimeSlice: 1e6, Hooks: rec}, prog)
	if r.err != nil || r.status.Int() != 0 {
		t.Fatalf("guest: %v %v", r.status, r.err)
	}
	st, err := checkHooks(rec.events)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events: %d VCPU switches, %d migrations, %d thread switches, %d runs, %d syscalls, %d threads",
		len(rec.events), st.vcpuSwitches, st.migrations, st.threadSwitches, st.runs, st.syscalls, len(st.threads))
	if len(st.threads) != 11 {
		t.Errorf("%d threads ran, want 11", len(st.threads))
	}
	if uint64(st.syscalls) != r.stats.Syscalls {
		t.Errorf("OnSyscall called %d times, VM counted %d system calls", st.syscalls, r.stats.Syscalls)
	}
	if uint64(st.threadSwitches) != r.stats.ThreadSwitches {
		t.Errorf("ThreadIn called %d times, VM counted %d switches", st.threadSwitches, r.stats.ThreadSwitches)
	}
	if st.vcpuSwitches < 3 {
		t.Errorf("only %d VCPUIn calls for 3 VCPUs", st.vcpuSwitches)
	}
}
