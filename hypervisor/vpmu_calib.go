package hypervisor

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/pmu/virt"
)

// defaultCalibrationSamples is VPMUConfig.CalibrationSamples' default:
// about 7 ms of round trips on a PVM host.
const defaultCalibrationSamples = 200

// calibWarmup round trips are run and dropped before sampling.
const calibWarmup = 16

// calibStub is the calibration stub (user-executable, at vpmuCalibGVA):
// it reads the guest TSC as the first thing after entering guest mode
// and again just before it exits through the system-call port, the exit
// every system call takes.
//
//	0f 31          rdtsc
//	48 c1 e2 20    shl $32, %rdx
//	48 09 c2       or %rax, %rdx
//	48 89 d7       mov %rdx, %rdi      RDI = guest TSC after entry
//	0f 31          rdtsc
//	48 c1 e2 20    shl $32, %rdx
//	48 09 c2       or %rax, %rdx
//	48 89 d6       mov %rdx, %rsi      RSI = guest TSC before exit
//	e6 10          out %al, $0x10      exit (KVM_EXIT_IO, portSyscall)
//	f4             hlt                 never reached
//	eb fd          jmp .-1
var calibStub = []byte{
	0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xc2, 0x48, 0x89, 0xd7,
	0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xc2, 0x48, 0x89, 0xd6,
	0xe6, portSyscall,
	0xf4,
	0xeb, 0xfd,
}

// Calibration is what the virtual PMU measured at VM start to turn host
// TSC readings taken around KVM_RUN into guest time: the TSC rate, the
// guest's TSC offset, and what entering and leaving guest mode cost.
//
// The nominal guest time of a run is the host TSC span of its KVM_RUN
// minus EntryTicks and ExitTicks, the mean costs. How a run's time is
// counted so that reads stay monotonic and totals follow the nominal
// lengths is explained in docs/vpmu.md ("Guest time"); ExitMinTicks is
// the bound it uses.
type Calibration struct {
	// TSCKHz is the guest TSC rate; TSCKHzSource says where it came
	// from (KVM_GET_TSC_KHZ, or measured against CLOCK_MONOTONIC).
	TSCKHz       uint64
	TSCKHzSource string
	// TSCMult and TSCShift convert ticks to nanoseconds:
	// ns = ticks*TSCMult >> TSCShift. The VCPU pages carry them.
	TSCMult, TSCShift uint32
	// Offset is guest TSC minus host TSC: 0 on PVM hosts, KVM's TSC
	// offset on VMX/SVM (fitted between IA32_TSC and the stub's
	// readings).
	Offset int64
	// Samples is how many round trips were timed.
	Samples int
	// Entry is the time from the host TSC reading before KVM_RUN to the
	// first guest instruction; Exit from the last guest instruction to
	// the host TSC reading after KVM_RUN. In ticks.
	Entry, Exit CostStats
	// EntryTicks and ExitTicks are the mean costs (the top 1% of
	// samples left out); ExitMinTicks is the smallest exit cost less a
	// quarter (exitBound).
	EntryTicks, ExitTicks, ExitMinTicks uint64
	// Warning is set when the readings were inconsistent (the guest TSC
	// seemed to run outside its KVM_RUN): guest time is then less
	// accurate.
	Warning string
}

// CostStats summarises timed samples, in TSC ticks.
type CostStats struct {
	Min, Median, P90, P99, Max uint64
	// Mean leaves out the top 1% (host preemption of the VCPU thread).
	Mean uint64
}

// Nanos converts TSC ticks to a duration with the calibrated scale.
func (c Calibration) Nanos(ticks uint64) time.Duration {
	return time.Duration(virt.TicksToNanos(ticks, c.TSCMult, c.TSCShift))
}

// calibSample is one timed round trip: host TSC before and after
// KVM_RUN, guest TSC after entry and before the exit.
type calibSample struct {
	hEnter, hExit, gEnter, gExit uint64
}

// calibrate times n round trips of the calibration stub on VCPU k (which
// has not run yet) through the same enter and leave code the VCPU loop
// uses, and fits the calibration.
func (p *vpmu) calibrate(k *kvm.VCPU, n int) (Calibration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	scratch := newVPMUVCPU(p, 0, new(virt.VCPUPage))
	run := k.RunData()
	samples := make([]calibSample, 0, n)
	wall0, tsc0 := time.Now(), rdtsc()
	for tries := 0; len(samples) < n; tries++ {
		if tries > 8*(n+calibWarmup) {
			return Calibration{}, fmt.Errorf("only %d of %d round trips completed: KVM_RUN keeps being interrupted", len(samples), n)
		}
		run.Sync.Regs = kvm.Regs{RIP: vpmuCalibGVA, RFLAGS: userRflags}
		run.DirtyRegs = kvm.SyncRegsGPR
		scratch.enter(0)
		err := k.Run()
		scratch.leave(err)
		if errors.Is(err, kvm.ErrInterrupted) {
			continue
		}
		if err != nil {
			return Calibration{}, err
		}
		e := kvm.DecodeExit(kvm.ExitReason(run.ExitReason), &run.ExitData)
		if e.Reason != kvm.ExitIO || e.IO.Port != portSyscall {
			return Calibration{}, fmt.Errorf("calibration stub exited with %v (port %#x) at %#x, want an out to port %#x",
				e.Reason, e.IO.Port, run.Sync.Regs.RIP, portSyscall)
		}
		if tries < calibWarmup {
			continue
		}
		samples = append(samples, calibSample{hEnter: scratch.enterTSC, hExit: scratch.exitTSC,
			gEnter: run.Sync.Regs.RDI, gExit: run.Sync.Regs.RSI})
	}
	wall, ticks := time.Since(wall0), rdtsc()-tsc0

	var msrOff int64
	haveMSR := false
	h0 := rdtsc()
	if ents, err := k.MSRs(msrTSC); err == nil && len(ents) == 1 {
		h1 := rdtsc()
		msrOff, haveMSR = int64(ents[0].Data-(h0+(h1-h0)/2)), true
	}
	c := fitCalibration(samples, p.kind == kvm.HostPVM, msrOff, haveMSR)
	if khz, err := k.TSCKHz(); err == nil && khz > 0 {
		c.TSCKHz, c.TSCKHzSource = uint64(khz), "KVM_GET_TSC_KHZ"
	} else {
		c.TSCKHz, c.TSCKHzSource = ticks*uint64(time.Millisecond)/uint64(max(wall, 1)), "measured against CLOCK_MONOTONIC"
	}
	c.TSCMult, c.TSCShift = tscScale(c.TSCKHz)
	return c, nil
}

// msrTSC is IA32_TIME_STAMP_COUNTER.
const msrTSC = 0x10

// fitCalibration derives the TSC offset and the entry and exit costs
// from timed round trips. Every guest reading must lie inside its
// KVM_RUN: off >= gExit-hExit and off <= gEnter-hEnter for every sample.
// Within that interval the offset is 0 on PVM (the guest reads the host
// TSC), else the IA32_TSC estimate, clamped into it. An empty interval
// (a TSC that is not constant, or readings from different CPUs that
// disagree) gives a Warning.
func fitCalibration(s []calibSample, pvm bool, msrOff int64, haveMSR bool) Calibration {
	c := Calibration{Samples: len(s)}
	if len(s) == 0 {
		c.Warning = "no calibration samples"
		return c
	}
	lo, hi := int64(s[0].gExit-s[0].hExit), int64(s[0].gEnter-s[0].hEnter)
	for _, x := range s[1:] {
		lo = max(lo, int64(x.gExit-x.hExit))
		hi = min(hi, int64(x.gEnter-x.hEnter))
	}
	guess := int64(0)
	if haveMSR && !pvm {
		guess = msrOff
	}
	if lo <= hi {
		c.Offset = min(max(guess, lo), hi)
	} else {
		c.Offset = guess
		c.Warning = fmt.Sprintf("no TSC offset puts every guest reading inside its KVM_RUN (needs %d <= offset <= %d); using %d", lo, hi, guess)
	}
	entry := make([]uint64, len(s))
	exit := make([]uint64, len(s))
	for i, x := range s {
		entry[i] = uint64(max(int64(x.gEnter-x.hEnter)-c.Offset, 0))
		exit[i] = uint64(max(int64(x.hExit-x.gExit)+c.Offset, 0))
	}
	c.Entry, c.Exit = costStats(entry), costStats(exit)
	c.EntryTicks, c.ExitTicks = c.Entry.Mean, c.Exit.Mean
	c.ExitMinTicks = exitBound(c.Exit.Min)
	return c
}

// exitBound is the exit cost that runs are cut at: the smallest one
// calibrated, less a quarter. Real exits come faster than the
// calibration stub's fastest on the PVM development machines: by up to
// about 1100 ticks (4%) on one day, and by more than a tenth on another
// (TestVPMUGuestTime failed 3 to 5 times in 40 with a tenth), which made
// a read after an exit show less than one just before it. What the
// margin adds to a run goes into the thread's time debt like the rest of
// its overcount, and a read of a run whose start the debt moved ahead of
// the TSC counts nothing of it yet (virt.Read), so totals still follow
// the nominal lengths and reads stay monotonic.
func exitBound(minTicks uint64) uint64 { return minTicks - minTicks/4 }

// costStats sorts v and summarises it.
func costStats(v []uint64) CostStats {
	slices.Sort(v)
	q := func(f float64) uint64 { return v[min(int(f*float64(len(v))), len(v)-1)] }
	keep := v[:max(len(v)-len(v)/100, 1)]
	var sum uint64
	for _, x := range keep {
		sum += x
	}
	return CostStats{Min: v[0], Median: q(0.5), P90: q(0.9), P99: q(0.99), Max: v[len(v)-1], Mean: sum / uint64(len(keep))}
}

// tscScale returns mult and shift with ns = ticks*mult >> shift for a TSC
// of khz kHz, with the largest shift (at most 32) that keeps mult in 32
// bits.
func tscScale(khz uint64) (mult, shift uint32) {
	if khz == 0 {
		return 0, 0
	}
	for shift = 32; shift > 0; shift-- {
		if m := (uint64(1e6)<<shift + khz/2) / khz; m < 1<<32 {
			return uint32(m), shift
		}
	}
	return uint32(min((uint64(1e6)+khz/2)/khz, 1<<32-1)), 0
}
