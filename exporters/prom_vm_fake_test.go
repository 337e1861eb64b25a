package exporters

import (
	"sync"
	"time"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
)

// fakeVM is a vmSource whose state the test sets: the counts, exits and
// stats of a VM of the vpmu hypervisor, without KVM.
type fakeVM struct {
	mu            sync.Mutex
	live, created int
	counts        hypervisor.VPMUCounts
	exits         []hypervisor.VCPUExits
	stats         hypervisor.Stats
	calib         hypervisor.Calibration
}

func (f *fakeVM) Threads() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live, f.created
}

func (f *fakeVM) Counts(perThread bool) hypervisor.VPMUCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.counts
	if !perThread {
		c.Threads = nil
	}
	return c
}

func (f *fakeVM) VCPUExits() []hypervisor.VCPUExits {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hypervisor.VCPUExits(nil), f.exits...)
}

func (f *fakeVM) Stats() hypervisor.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeVM) Calibration() hypervisor.Calibration { return f.calib }
func (f *fakeVM) HostKind() string                    { return "pvm" }

// fakeEvents are the fake VM's events: two counted, one not supported.
var fakeEvents = pmu.MustParseSpec("syscalls,task-clock,minor-faults").Events()

var fakeMinorFaults = &pmu.NotSupportedError{Event: "minor-faults",
	Reason: "the VMM handles guest page faults without telling minor from major; count page-faults"}

// vmValues returns the values of the fake events for a thread or VCPU
// that made syscalls system calls in ms milliseconds of guest time.
func vmValues(syscalls uint64, ms int) []pmu.Value {
	d := time.Duration(ms) * time.Millisecond
	return []pmu.Value{
		{Event: fakeEvents[0], Raw: syscalls, Enabled: d, Running: d},
		{Event: fakeEvents[1], Raw: uint64(d), Enabled: d, Running: d},
		{Event: fakeEvents[2]},
	}
}

// newFakeVM returns a VM with 2 VCPUs whose program has a main thread
// (tid 1000) and a worker (tid 1001, exited when workerExited), with
// known counts, sandbox refusals, an unimplemented system call, 20,000
// system calls with unknown numbers and a calibration warning.
func newFakeVM(workerExited bool) *fakeVM {
	f := &fakeVM{
		live: 2, created: 2,
		exits: []hypervisor.VCPUExits{
			{VCPU: 0, Total: 130, IO: 100, Exception: 2, Interrupt: 25, MMIO: 0},
			{VCPU: 1, Total: 61, IO: 60, Interrupt: 1},
		},
		stats: hypervisor.Stats{
			Denials: []hypervisor.Denial{
				{Kind: hypervisor.DenyWrite, First: "open for writing /etc/passwd: read-only file system", Count: 3},
				{Kind: hypervisor.DenyNetwork, First: "socket(AF_INET, SOCK_STREAM)", Count: 1},
			},
			Unimplemented:       []string{"io_uring_setup"},
			UnknownSyscalls:     20000,
			FirstUnknownSyscall: 100000,
			Memory:              hypervisor.MMStats{Committed: 8 << 20, Limit: 2 << 30},
		},
		calib: hypervisor.Calibration{
			TSCKHz: 2_000_000, TSCKHzSource: "KVM_GET_TSC_KHZ", TSCMult: 1 << 31, TSCShift: 32, Samples: 200,
			Entry:      hypervisor.CostStats{Min: 20_000, Median: 30_000, P90: 40_000, P99: 50_000, Max: 90_000, Mean: 31_000},
			Exit:       hypervisor.CostStats{Min: 22_000, Median: 24_000, P90: 26_000, P99: 28_000, Max: 60_000, Mean: 24_500},
			EntryTicks: 31_000, ExitTicks: 24_500, ExitMinTicks: 22_000,
			Warning: "the guest TSC seemed to run outside KVM_RUN",
		},
	}
	if workerExited {
		f.live = 1
	}
	f.counts = hypervisor.VPMUCounts{
		Events: fakeEvents,
		Errs:   []error{nil, nil, fakeMinorFaults},
		Threads: []hypervisor.VPMUThreadCounts{
			{TID: 1000, Comm: "guest", Values: vmValues(100, 30)},
			{TID: 1001, Comm: "guest", Exited: workerExited, Values: vmValues(60, 20)},
		},
		VCPUs: []hypervisor.VPMUVCPUCounts{
			{VCPU: 0, Values: vmValues(100, 30)},
			{VCPU: 1, Values: vmValues(60, 20)},
		},
		Total:       vmValues(160, 50),
		Calibration: f.calib,
	}
	f.counts.Total[2] = pmu.Value{Event: fakeEvents[2]}
	return f
}

// set changes the fake VM under its lock.
func (f *fakeVM) set(change func(f *fakeVM)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}
