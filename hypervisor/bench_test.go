package hypervisor

import (
	"context"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// benchGuest runs the bench program in mode with count iterations, b.N
// times, timing only vm.Run (not VM creation), and reports the time per
// guest iteration as unit. The program's own start-up (about a
// millisecond) is included, amortized over count.
func benchGuest(b *testing.B, cfg Config, mode string, count int, unit string) {
	benchGuestWith(b, cfg, mode, count, unit, nil)
}

// benchGuestWith is benchGuest with during started beside each run; the
// function it returns is called when the run ended. It returns the
// total time of the runs.
func benchGuestWith(b *testing.B, cfg Config, mode string, count int, unit string, during func(*VM) func()) time.Duration {
	prog := buildC(b, "bench", "-pthread")
	b.ReportAllocs()
	b.StopTimer()
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		vm, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		stop := func() {}
		if during != nil {
			stop = during(vm)
		}
		start := time.Now()
		b.StartTimer()
		st, err := vm.Run(context.Background(), prog, []string{prog, mode, strconv.Itoa(count)})
		b.StopTimer()
		elapsed += time.Since(start)
		stop()
		vm.Close()
		if err != nil || st.Int() != 0 {
			b.Fatalf("guest: %v %v", st, err)
		}
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*count), unit)
	return elapsed
}

// BenchmarkSyscallGetpid is the cost of one guest system call through
// the VMM (getpid).
func BenchmarkSyscallGetpid(b *testing.B) { benchGuest(b, Config{}, "getpid", 20000, "ns/syscall") }

// BenchmarkSyscallMprotect is the cost of one guest mprotect of a page
// the guest has just touched, alternating PROT_READ (which takes write
// access away: the VMM rewrites the leaf and makes KVM drop its
// translations) and PROT_READ|PROT_WRITE (which only adds access).
func BenchmarkSyscallMprotect(b *testing.B) {
	benchGuest(b, Config{}, "mprotect", 20000, "ns/syscall")
}

// BenchmarkThreadSwitch is the cost of a sched_yield that switches
// between two guest threads on one VCPU (a system call, a thread switch
// with FPU save and restore, and the scheduler).
func BenchmarkThreadSwitch(b *testing.B) {
	benchGuest(b, Config{VCPUs: 1}, "yield", 20000, "ns/switch")
}

// BenchmarkComputeLoop times the same compute-bound loop in the guest
// and natively; the ratio of their ns/iter is the guest/native speed.
func BenchmarkComputeLoop(b *testing.B) {
	const iters = 200_000_000
	b.Run("guest", func(b *testing.B) { benchGuest(b, Config{}, "loop", iters, "ns/iter") })
	b.Run("native", func(b *testing.B) {
		prog := buildC(b, "bench", "-pthread")
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if out, err := exec.Command(prog, "loop", strconv.Itoa(iters)).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*iters), "ns/iter")
	})
}

// BenchmarkExitRoundTrip is the bare cost of a guest exit to the VMM and
// back: raw guest code that loops on SYSCALL, resumed by the benchmark
// loop itself (no system-call dispatch, no scheduler).
func BenchmarkExitRoundTrip(b *testing.B) {
	b.Run("sync=regs", func(b *testing.B) { benchExit(b, kvm.SyncRegsGPR) })
	b.Run("sync=regs+sregs", func(b *testing.B) { benchExit(b, kvm.SyncRegsGPR|kvm.SyncRegsSregs) })
}

func benchExit(b *testing.B, valid uint64) {
	m := newTestMachine(b, 1)
	v := m.vcpus[0]
	loadRawCode(b, m, v, []byte{
		0x0f, 0x05, // syscall
		0xeb, 0xfc, // jmp .-2
	})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := v.RunData()
	r.ValidRegs = valid
	cpl0 := false
	if s, err := v.Sregs(); err == nil {
		cpl0 = s.CS.Selector&3 == 0
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for {
			if err := v.Run(); err == nil {
				break
			} else if err != kvm.ErrInterrupted {
				b.Fatal(err)
			}
		}
		if r.ExitReason != uint32(kvm.ExitIO) {
			b.Fatalf("exit %v", kvm.ExitReason(r.ExitReason))
		}
		regs := &r.Sync.Regs
		if !cpl0 {
			regs.RIP, regs.RFLAGS = regs.RCX, sysretFlags(regs.R11)
		}
		r.DirtyRegs = kvm.SyncRegsGPR
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/exit")
}
