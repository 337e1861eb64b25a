package hypervisor

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// Sampling in the VM: virtual PMIs (docs/profiling.md, "Inside the vpmu
// hypervisor"). A sampling counter is a logical counter of a thread with
// a period: it overflows when the thread's count crosses its next
// threshold (pmu/virt, overflow.go). The VMM checks for overflows where
// it has control:
//
//   - tallies (syscalls, vm-exits, page-faults, ...) in the exit that
//     counts them;
//   - guest time (task-clock, cpu-clock, ref-cycles) at every exit, and
//     the sample clock (vpmu_sample_clock.go) kicks the VCPU out of the
//     guest when the thread's remaining time is up;
//   - precise instructions and branches at every single step.
//
// An overflow is recorded as pending in the thread's own state and
// delivered as soon as the VMM knows the thread's user context: a sample
// for SamplingConfig.Sink, or a signal to a guest that asked for one with
// the paravirtual call (vpmu_sample_pv.go).

// Limits of VM sampling.
const (
	// minTimePeriod is the shortest sampling period of a time event:
	// each sample costs a VM exit, and perf refuses shorter clock
	// periods too.
	minTimePeriod = 10 * time.Microsecond
	// maxSampleFreq caps SamplingConfig.Freq.
	maxSampleFreq = 100_000
	// defaultStackDepth bounds a frame-pointer walk (perf's
	// kernel.perf_event_max_stack default).
	defaultStackDepth = 127
	// maxStackDepth caps SamplingConfig.MaxDepth.
	maxStackDepth = 1024
)

// SamplingConfig makes the virtual PMU sample the program, as perf record
// does natively: a logical counter of Event in every thread (opened on the
// first thread before its first instruction and inherited by every thread)
// raises a virtual PMI every Period events, and the VMM hands a Sample to
// Sink for each.
type SamplingConfig struct {
	// Event is the sampled event; the zero Event turns sampling off. It
	// must be one the VM counts (docs/vpmu.md) other than a host PMU
	// event, whose overflows the VMM cannot see when they happen;
	// instructions and branches need VPMUConfig.Precise.
	Event pmu.Event
	// Period is the number of events per sample: nanoseconds of guest
	// time for task-clock and cpu-clock (at least 10 µs), TSC ticks for
	// ref-cycles.
	Period uint64
	// Freq, when Period is 0, asks for about Freq samples per second of
	// each thread's guest time. For the time events it is the fixed
	// period 1 s/Freq (for ref-cycles computed from the calibrated TSC
	// rate); for the other events the period adapts after every sample to
	// the rate the thread counts at, as perf's frequency mode does.
	Freq uint64
	// Stacks asks for the frame-pointer chain of each sample, walked in
	// guest memory; without it a sample has its IP only.
	Stacks bool
	// MaxDepth bounds the walk; 0 means 127.
	MaxDepth int
	// Sink receives the samples.
	Sink SampleSink
}

// SampleSink receives the samples of a VM. Sample is called on the
// goroutine of the VCPU that took the sample, concurrently for several
// VCPUs; it must not block (the guest VCPU waits), and it must not keep s
// or its Stack after it returns (they are reused).
type SampleSink interface {
	Sample(s *Sample)
}

// Sample is one virtual PMI: one delivery of a thread's overflows.
type Sample struct {
	// PID, TID and Comm are the guest process and thread and the
	// thread's name; VCPU is the VCPU the thread ran on and PCPU the PCPU
	// slot of that VCPU.
	PID, TID   int
	Comm       string
	VCPU, PCPU int
	// Time is the host TSC when the sample was taken, in nanoseconds.
	Time uint64
	// Overflows is the number of thresholds the count crossed since
	// the last sample (more than 1 when delivery came late), and Period
	// the events they stand for (nanoseconds for task-clock and
	// cpu-clock).
	Overflows, Period uint64
	// IP is where the thread was: for time events the instruction the
	// guest was interrupted at, for tallies the event's site (the
	// SYSCALL instruction, RCX-2, of a system call; the faulting
	// instruction of a page fault), for precise events the instruction
	// counted.
	IP uint64
	// Stack holds the return addresses of the frame-pointer chain,
	// innermost first (SamplingConfig.Stacks), and StackEnd why the walk
	// stopped.
	Stack    []uint64
	StackEnd StackEnd
	// Maps is the program's file mappings when the sample was taken. The
	// pointer stays the same while they do not change; a snapshot is
	// never modified.
	Maps *GuestMaps
}

// SamplingStats counts what VM sampling did.
type SamplingStats struct {
	// Samples were handed to the sink; Overflows is what they stand for
	// (more than Samples when deliveries came late).
	Samples, Overflows uint64
	// Signals are overflow signals sent to guest threads (paravirtual
	// sampling).
	Signals uint64
	// Kicks counts the sample clock's interruptions of a VCPU.
	Kicks uint64
	// Frames counts the return addresses walked; StackEnds counts why
	// walks stopped, by StackEnd.
	Frames    uint64
	StackEnds [stackEndCount]uint64
	// MapSnapshots counts the mapping snapshots taken.
	MapSnapshots uint64
}

// vmSampling is SamplingConfig in a VM: the bound event and the counter
// slot it takes in every thread.
type vmSampling struct {
	cfg  SamplingConfig
	b    binding
	slot int
	// period is the initial period in the source's units (TSC ticks for
	// time); freq is set when the period adapts (events other than time
	// in frequency mode).
	period, freq uint64
	depth        int
}

// sampleStats are the atomic counters behind SamplingStats.
type sampleStats struct {
	samples, overflows, signals, kicks, frames, snapshots atomic.Uint64
	ends                                                  [stackEndCount]atomic.Uint64
}

// ErrSampling is wrapped by the errors of an invalid SamplingConfig.
var ErrSampling = errors.New("vpmu: invalid sampling configuration")

// setupSampling checks cfg and binds its event. spec is the state of
// VPMUConfig.Spec, whose slots come first. It returns nil when cfg
// samples nothing.
func (p *vpmu) setupSampling(cfg SamplingConfig, precise bool, spec *specState) (*vmSampling, error) {
	if cfg.Event == (pmu.Event{}) {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSampling, fmt.Sprintf(format, args...))
	}
	switch {
	case cfg.Sink == nil:
		return nil, bad("no sink for the samples")
	case cfg.Period == 0 && cfg.Freq == 0:
		return nil, bad("sampling %s needs a period or a frequency", cfg.Event)
	case cfg.Period != 0 && cfg.Freq != 0:
		return nil, bad("sampling %s: give a period or a frequency, not both", cfg.Event)
	case cfg.Freq > maxSampleFreq:
		return nil, bad("frequency %d Hz above the VM's maximum of %d: each sample costs a VM exit", cfg.Freq, maxSampleFreq)
	case cfg.MaxDepth < 0 || cfg.MaxDepth > maxStackDepth:
		return nil, bad("stack depth %d: want 0 (default %d) to %d", cfg.MaxDepth, defaultStackDepth, maxStackDepth)
	}
	var probe pmuHostProber
	if p.host != nil {
		probe = p.host.probe
	}
	b, err := bindEvent(cfg.Event, precise, probe)
	if err != nil {
		return nil, err
	}
	if b.src < 0 {
		reason := "sampling a host PMU event in the VM is not supported: the VMM sees its count only at exits, not when it overflows"
		if cfg.Event.Kind == pmu.KindHardware && (cfg.Event.Config == perfHWInstructions || cfg.Event.Config == perfHWBranches) {
			reason += reasonPrecise
		}
		return nil, &pmu.NotSupportedError{Event: cfg.Event.String(), Reason: reason}
	}
	s := &vmSampling{cfg: cfg, b: b, depth: cfg.MaxDepth}
	if s.depth == 0 {
		s.depth = defaultStackDepth
	}
	s.slot = 0
	if spec.timeSlot >= 0 {
		s.slot = spec.timeSlot + 1
	}
	for _, sl := range spec.slots {
		s.slot = max(s.slot, sl+1)
	}
	if s.slot >= virt.MaxCounters {
		return nil, bad("no counter slot left for %s: the spec takes all %d", cfg.Event, virt.MaxCounters)
	}
	switch {
	case cfg.Period > 0:
		if s.period, err = p.periodTicks(b, cfg.Period); err != nil {
			return nil, bad("%s: %v", cfg.Event, err)
		}
	case b.src == srcTime:
		// maxSampleFreq keeps 1 s/Freq at or above minTimePeriod.
		s.period = p.ticks(uint64(time.Second) / cfg.Freq)
	default:
		// Frequency mode for a count: start at 1 and adapt (perf does
		// the same).
		s.period, s.freq = 1, cfg.Freq
	}
	s.period = max(s.period, 1)
	return s, nil
}

// periodTicks checks a sampling period of an event bound as b and
// returns it in the source's units: TSC ticks for the time source, whose
// period is in nanoseconds for task-clock and cpu-clock (b.ns) and at
// least minTimePeriod; events for the others. A period above
// virt.MaxPeriod (2^63-1, as perf) is refused.
func (p *vpmu) periodTicks(b binding, period uint64) (uint64, error) {
	unit := "events"
	if b.src == srcTime {
		unit = "ticks"
		if b.ns {
			unit = "ns"
		}
	}
	if period > virt.MaxPeriod {
		return 0, fmt.Errorf("period %d %s above the maximum of %d", period, unit, uint64(virt.MaxPeriod))
	}
	if b.src != srcTime {
		return period, nil
	}
	ns, ticks := period, period
	if b.ns {
		ticks = p.ticks(period)
	} else {
		ns = virt.TicksToNanos(period, p.calib.TSCMult, p.calib.TSCShift)
	}
	switch {
	case ns < uint64(minTimePeriod):
		return 0, fmt.Errorf("period %d %s below the VM's minimum of %v for time events", period, unit, minTimePeriod)
	case ticks > virt.MaxPeriod:
		return 0, fmt.Errorf("period %d %s above the maximum of %d TSC ticks", period, unit, uint64(virt.MaxPeriod))
	}
	return ticks, nil
}

// ticks converts nanoseconds of guest time to TSC ticks.
func (p *vpmu) ticks(ns uint64) uint64 {
	hi, lo := bits.Mul64(ns, p.calib.TSCKHz)
	if hi >= 1_000_000 {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	return q
}

// SamplingPeriod returns the sampling period in the event's units
// (nanoseconds for task-clock and cpu-clock), or 0 when the period
// adapts (frequency mode of a count) or nothing is sampled.
func (u *VPMU) SamplingPeriod() uint64 {
	s := u.p.samp
	if s == nil || s.freq != 0 {
		return 0
	}
	if s.cfg.Period != 0 {
		return s.cfg.Period
	}
	if s.b.ns {
		return uint64(time.Second) / s.cfg.Freq
	}
	return s.period
}

// SamplingStats returns what VM sampling did so far.
func (u *VPMU) SamplingStats() SamplingStats {
	st := &u.p.sampStats
	out := SamplingStats{
		Samples: st.samples.Load(), Overflows: st.overflows.Load(), Signals: st.signals.Load(),
		Kicks: st.kicks.Load(), Frames: st.frames.Load(), MapSnapshots: st.snapshots.Load(),
	}
	for i := range out.StackEnds {
		out.StackEnds[i] = st.ends[i].Load()
	}
	return out
}
