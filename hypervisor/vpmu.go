package hypervisor

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// VPMUConfig configures the virtual PMU (docs/vpmu.md). The zero value
// turns it on with no counters of the VMM's own: the guest can still
// open counters through the paravirtual interface (guestlib does).
type VPMUConfig struct {
	// Off turns the virtual PMU off: no state pages, no calibration, no
	// hooks; the paravirtual call then answers ENOSYS, as Linux does. It
	// exists to measure the virtual PMU's own cost.
	Off bool
	// Spec, when it has events, is opened by the VMM on the program's
	// first thread before its first instruction and inherited by every
	// thread the program creates. VM.VPMU().Counts reports it per
	// thread, per VCPU and for the whole VM. Events the VM cannot count
	// are reported with the reason; they do not fail the run.
	Spec pmu.Spec
	// ExitedThreads bounds the exited threads VPMU.Counts lists, and so
	// the memory and the cost of Counts for a program that creates
	// threads without end (a thread per request): 0 lists every thread
	// the program ever had (vpmu stat --vm --per-thread prints them
	// all); N > 0 the N that exited last; a negative value none. The
	// totals count every thread whatever it is (the final counts of
	// exited threads are summed when they exit). vpmu run --metrics sets
	// it (exporters.VMExitedThreads).
	ExitedThreads int
	// Precise counts the instructions and branches events of Spec
	// exactly by single-stepping every thread of the program (tens of
	// microseconds per instruction). Without it they need a host PMU.
	Precise bool
	// CalibrationSamples is how many KVM_RUN round trips are timed at
	// VM start to calibrate the entry and exit cost (default 200).
	CalibrationSamples int
	// Sampling, when its Event is set, samples the program with virtual
	// PMIs (vpmu record --vm).
	Sampling SamplingConfig
}

// vpmu is the virtual PMU of one VM: the VCPU and thread state pages,
// the counter sources, and the thread counters with their inheritance.
//
// Ownership follows the hypervisor's: a vpmuVCPU is used only by its
// VCPU's goroutine; a vpmuThread's page is written only by the goroutine
// that owns the Thread (its VCPU while it runs). mu protects what other
// goroutines look at: the page pool, the thread list, the counter
// lineage (ctrNode) and the host sources. Pages are read across
// goroutines only with the lock-free seqlock reader (vpmu_read.go).
type vpmu struct {
	vm    *VM
	cfg   VPMUConfig
	kind  kvm.HostKind
	calib Calibration

	vcpus     []*vpmuVCPU
	vcpuPages []*virt.VCPUPage
	// off is the guest TSC minus the host TSC, two's complement.
	off uint64

	host pmuHost

	mu sync.Mutex
	// pages is the pool of thread state pages.
	pages threadPagePool
	// threads lists the live threads and the exited ones Counts still
	// lists (VPMUConfig.ExitedThreads), in creation order, and until the
	// next compaction the dropped ones (vpmu_report.go).
	threads []*vpmuThread
	// exitQueue lists the exited threads Counts lists, oldest exit
	// first, when VPMUConfig.ExitedThreads > 0.
	exitQueue []*vpmuThread
	// live and created count the threads now and ever; dropped counts
	// the dropped entries of threads.
	live, created, dropped int
	// exitedRaw is, per spec event, the sum of the final counts of every
	// exited thread as Counts reports them (nanoseconds for time
	// events), and exitedTime the sum of their guest time in ticks.
	exitedRaw  []uint64
	exitedTime uint64
	// hostSrcs are the events behind host sources srcHostFirst+i;
	// hostCount is its length, for a lock-free check on the switch path.
	hostSrcs  []pmu.Event
	hostCount atomic.Int32
	// spec is the state of VPMUConfig.Spec: its events, their bindings
	// and errors, and the slots it occupies in every thread.
	spec specState

	// Sampling (vpmu_sample*.go): VPMUConfig.Sampling, nil when off; the
	// clock that interrupts the guest for time events; the mapping
	// snapshots of samples; statistics.
	samp      *vmSampling
	clock     *sampleClock
	maps      mapsCache
	sampStats sampleStats
}

// newVPMU sets up the virtual PMU of vm: the CPUID leaf, the VCPU pages,
// the calibration of guest entry and exit, and the spec's bindings. It
// returns nil when cfg.Off.
func newVPMU(vm *VM) (*vpmu, error) {
	cfg := vm.cfg.VPMU
	for _, v := range vm.m.vcpus {
		if err := v.SetCPUID(vpmuCPUID(vm.m.cpuid, !cfg.Off)); err != nil {
			return nil, fmt.Errorf("vpmu: report the hypervisor in CPUID: %w", err)
		}
	}
	if cfg.Off {
		return nil, nil
	}
	if cfg.CalibrationSamples <= 0 {
		cfg.CalibrationSamples = defaultCalibrationSamples
	}
	p := &vpmu{vm: vm, cfg: cfg, kind: vm.m.host.Kind, host: newPMUHost()}
	if err := p.mapVCPUPages(len(vm.vcpus)); err != nil {
		return nil, err
	}
	if err := p.mapCalibStub(); err != nil {
		return nil, err
	}
	calib, err := p.calibrate(vm.m.vcpus[0], cfg.CalibrationSamples)
	if err != nil {
		return nil, fmt.Errorf("vpmu: calibrate guest entry and exit: %w", err)
	}
	p.calib = calib
	p.off = uint64(calib.Offset)
	if calib.Warning != "" {
		vm.log.Warn("vpmu calibration", "warning", calib.Warning)
	}
	for i, v := range vm.vcpus {
		c := newVPMUVCPU(p, i, p.vcpuPages[i])
		p.vcpus = append(p.vcpus, c)
		v.pmu = c
	}
	p.spec = p.bindSpec(cfg.Spec, cfg.Precise)
	p.exitedRaw = make([]uint64, len(p.spec.events))
	if p.samp, err = p.setupSampling(cfg.Sampling, cfg.Precise, &p.spec); err != nil {
		return nil, fmt.Errorf("vpmu: sample %s: %w", cfg.Sampling.Event, err)
	}
	p.clock = newSampleClock(p, len(vm.vcpus))
	vm.log.Debug("vpmu ready", "tsc_khz", calib.TSCKHz, "tsc_offset", calib.Offset,
		"entry_ticks", calib.EntryTicks, "exit_ticks", calib.ExitTicks, "exit_min_ticks", calib.ExitMinTicks)
	return p, nil
}

// close releases the host counters of every VCPU. The VM's VCPU
// goroutines must have stopped.
func (p *vpmu) close() error {
	if p == nil {
		return nil
	}
	p.clock.shutdown()
	var errs []error
	for _, c := range p.vcpus {
		errs = append(errs, c.closeHost())
	}
	return errors.Join(errs...)
}

// VPMU returns the VM's virtual PMU, or nil when VPMUConfig.Off.
func (vm *VM) VPMU() *VPMU {
	if vm.pmu == nil {
		return nil
	}
	return &VPMU{p: vm.pmu}
}

// VPMU is the view of a VM's virtual PMU for its user: the calibration
// and the counts of VPMUConfig.Spec. Its methods are safe for concurrent
// use, also while the VM runs.
type VPMU struct{ p *vpmu }

// Calibration returns what was measured at VM start.
func (u *VPMU) Calibration() Calibration { return u.p.calib }

// tscScale returns the tick-to-nanosecond conversion of the VCPU pages.
func (p *vpmu) tscScale() (mult, shift uint32) { return p.calib.TSCMult, p.calib.TSCShift }
