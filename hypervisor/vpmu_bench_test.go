package hypervisor

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// The virtual PMU's own cost: the hook path on state pages in host
// memory (what every KVM_RUN and every thread switch adds), and whole
// guest system calls and thread switches with the virtual PMU on and
// off.

// BenchmarkVPMUEnterLeave is what the virtual PMU adds around every
// KVM_RUN: the TSC readings, Start_vcpu and Sum_vcpu for the guest-time
// source, the time debt, and the exit tallies.
func BenchmarkVPMUEnterLeave(b *testing.B) {
	p, v, th, _ := fakeVPMU(b)
	c := p.vcpus[0]
	th.pmu.switchOut(c, SwitchYield)
	th.pmu.switchIn(c)
	b.ReportAllocs()
	for b.Loop() {
		c.enter(0)
		c.leave(nil)
		c.countExit(nil, v.run)
	}
}

// BenchmarkVPMUThreadSwitch is what the virtual PMU adds to a thread
// switch (out and in) for a thread with 8 counters open.
func BenchmarkVPMUThreadSwitch(b *testing.B) {
	p, _, th, mem := fakeVPMU(b)
	spec := "{syscalls,vm-exits,task-clock},{context-switches,cpu-migrations,page-faults}"
	th.MM().CopyOut(mem, []byte(spec))
	if n, err := th.pvCall(SyscallArgs{virt.PVOpen, mem, uint64(len(spec)), 0, mem + 0x1000, 16}); err != nil || n != 8 {
		b.Fatalf("open: %d %v", n, err)
	}
	c := p.vcpus[0]
	b.ReportAllocs()
	for b.Loop() {
		th.pmu.switchOut(c, SwitchYield)
		th.pmu.switchIn(c)
	}
}

// BenchmarkVPMUSyscallTally is what the virtual PMU adds to a system
// call's handling (the syscall tally; the exit is in EnterLeave).
func BenchmarkVPMUSyscallTally(b *testing.B) {
	_, v, th, _ := fakeVPMU(b)
	b.ReportAllocs()
	for b.Loop() {
		v.pmuSyscall(th, 39)
	}
}

// BenchmarkVPMUGuestSyscall is a guest getpid through the VMM with the
// virtual PMU on (counting a spec) and off.
func BenchmarkVPMUGuestSyscall(b *testing.B) {
	for _, mode := range vpmuModes() {
		b.Run(mode.name, func(b *testing.B) { benchGuest(b, mode.cfg, "getpid", 20000, "ns/syscall") })
	}
}

// BenchmarkVPMUGuestThreadSwitch is a sched_yield between two threads on
// one VCPU with the virtual PMU on and off.
func BenchmarkVPMUGuestThreadSwitch(b *testing.B) {
	for _, mode := range vpmuModes() {
		cfg := mode.cfg
		cfg.VCPUs = 1
		b.Run(mode.name, func(b *testing.B) { benchGuest(b, cfg, "yield", 20000, "ns/switch") })
	}
}

func vpmuModes() []struct {
	name string
	cfg  Config
} {
	on := Config{}
	on.VPMU.Spec = pmu.MustParseSpec("task-clock,syscalls,vm-exits,context-switches,cpu-migrations")
	return []struct {
		name string
		cfg  Config
	}{{"vpmu=off", Config{VPMU: VPMUConfig{Off: true}}}, {"vpmu=on", on}}
}

// BenchmarkVPMUReadInVM runs the Go guest's read benchmark: a million
// direct reads of a group of four, then PV reads, timed in the guest.
func BenchmarkVPMUReadInVM(b *testing.B) {
	prog := buildVPMUGuest(b)
	var direct, pv float64
	for i := 0; i < b.N; i++ {
		r := runGuest(b, Config{VCPUs: 4, PCPUs: 4, TimeSlice: time.Second, Env: goGuestEnv}, prog, "bench", "1000000")
		var n, exits int
		var d, p float64
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) < 3 {
			b.Fatalf("guest: %q %v", r.stdout, r.err)
		}
		fmt.Sscanf(lines[1], "direct reads %d ns/read %g exits %d", &n, &d, &exits)
		fmt.Sscanf(lines[2], "pv reads %d ns/read %g", &n, &p)
		direct += d
		pv += p
	}
	b.ReportMetric(direct/float64(b.N), "ns/direct-read")
	b.ReportMetric(pv/float64(b.N), "ns/pv-read")
}

// countSink counts samples and drops them.
type countSink struct{ n atomic.Uint64 }

func (c *countSink) Sample(*Sample) { c.n.Add(1) }

// BenchmarkVPMUSampling is the overhead of sampling in the VM: the
// compute-bound loop of BenchmarkComputeLoop with the virtual PMU
// counting and not sampling, then sampling task-clock at 1000 Hz of guest
// time, with and without frame-pointer stacks. The ratio of the ns/iter
// is the sampling overhead; samples/s checks the rate.
func BenchmarkVPMUSampling(b *testing.B) {
	const iters = 200_000_000
	taskClock := pmu.MustParseSpec("task-clock").Events()[0]
	for _, mode := range []struct {
		name string
		sc   SamplingConfig
	}{
		{"off", SamplingConfig{}},
		{"1kHz", SamplingConfig{Event: taskClock, Freq: 1000}},
		{"1kHz-stacks", SamplingConfig{Event: taskClock, Freq: 1000, Stacks: true}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			sink := &countSink{}
			cfg := Config{VCPUs: 1}
			cfg.VPMU.Spec = pmu.MustParseSpec("task-clock")
			if mode.sc.Event != (pmu.Event{}) {
				mode.sc.Sink = sink
				cfg.VPMU.Sampling = mode.sc
			}
			elapsed := benchGuestWith(b, cfg, "loop", iters, "ns/iter", nil)
			if mode.sc.Event != (pmu.Event{}) {
				if sink.n.Load() == 0 {
					b.Fatal("no samples")
				}
				b.ReportMetric(float64(sink.n.Load())/elapsed.Seconds(), "samples/s")
			}
		})
	}
	// The floor of any design that samples from the VMM: the same loop,
	// counting, with the VCPU kicked out of guest mode about every
	// millisecond and nothing sampled (kicks/s checks the rate).
	b.Run("kicks-1kHz", func(b *testing.B) {
		cfg := Config{VCPUs: 1}
		cfg.VPMU.Spec = pmu.MustParseSpec("task-clock")
		var kicks atomic.Uint64
		elapsed := benchGuestWith(b, cfg, "loop", iters, "ns/iter", func(vm *VM) func() {
			return kickEvery(vm.vcpus[0], time.Millisecond, &kicks)
		})
		b.ReportMetric(float64(kicks.Load())/elapsed.Seconds(), "kicks/s")
	})
}

// kickEvery kicks v out of guest mode every period while it is in guest
// mode, from its own OS thread (as the sample clock does), counting the
// kicks in n, until the function it returns is called.
func kickEvery(v *vcpu, period time.Duration, n *atomic.Uint64) (stop func()) {
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		ts := unix.Timespec{Sec: int64(period / time.Second), Nsec: int64(period % time.Second)}
		for !quit.Load() {
			_ = unix.Nanosleep(&ts, nil)
			if v.inGuest.Load() {
				v.requestKick(0)
				n.Add(1)
			}
		}
	}()
	return func() { quit.Store(true); <-done }
}
