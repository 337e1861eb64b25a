package perfevent

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// SampleType selects the fields of a sample record (perf's sample_type).
type SampleType uint64

// Sample fields the decoder supports.
const (
	SampleIdentifier   SampleType = unix.PERF_SAMPLE_IDENTIFIER
	SampleIP           SampleType = unix.PERF_SAMPLE_IP
	SampleTID          SampleType = unix.PERF_SAMPLE_TID
	SampleTime         SampleType = unix.PERF_SAMPLE_TIME
	SampleAddr         SampleType = unix.PERF_SAMPLE_ADDR
	SampleID           SampleType = unix.PERF_SAMPLE_ID
	SampleStreamID     SampleType = unix.PERF_SAMPLE_STREAM_ID
	SampleCPU          SampleType = unix.PERF_SAMPLE_CPU
	SamplePeriod       SampleType = unix.PERF_SAMPLE_PERIOD
	SampleRead         SampleType = unix.PERF_SAMPLE_READ
	SampleCallchain    SampleType = unix.PERF_SAMPLE_CALLCHAIN
	SampleRaw          SampleType = unix.PERF_SAMPLE_RAW
	SampleWeight       SampleType = unix.PERF_SAMPLE_WEIGHT
	SampleDataSrc      SampleType = unix.PERF_SAMPLE_DATA_SRC
	SampleTransaction  SampleType = unix.PERF_SAMPLE_TRANSACTION
	SamplePhysAddr     SampleType = unix.PERF_SAMPLE_PHYS_ADDR
	SampleCgroup       SampleType = unix.PERF_SAMPLE_CGROUP
	SampleDataPageSize SampleType = unix.PERF_SAMPLE_DATA_PAGE_SIZE
	SampleCodePageSize SampleType = unix.PERF_SAMPLE_CODE_PAGE_SIZE

	// DefaultSampleType is what a profiler needs: where, who, when, on
	// which CPU, how much, and the call stack.
	DefaultSampleType = SampleIP | SampleTID | SampleTime | SampleCPU | SamplePeriod | SampleCallchain
)

// SampleConfig configures sampling on a group's leader. The other events
// of the group are counted and, with SampleRead, reported in each sample.
type SampleConfig struct {
	// Period takes a sample every Period events of the leader. Exactly
	// one of Period and Freq must be set.
	Period uint64
	// Freq asks the kernel for about Freq samples per second, adjusting
	// the period as it goes (perf's -F); at most
	// kernel.perf_event_max_sample_rate.
	Freq uint64
	// SampleType selects the sample fields; 0 means DefaultSampleType.
	SampleType SampleType
	// DataPages is the ring's data size in pages, a power of two; 0
	// means 64 (256 KiB with 4 KiB pages).
	DataPages int
	// WakeupEvents wakes a blocked reader every WakeupEvents samples;
	// WakeupBytes instead wakes it when that many bytes are waiting.
	// Both 0 means every sample.
	WakeupEvents uint32
	WakeupBytes  uint32
	// Mmap asks for MMAP2 records of executable mappings, with build ids
	// instead of device and inode when BuildID is set (Linux 5.12+).
	Mmap, BuildID bool
	// Comm asks for COMM records (thread names, flagged on exec).
	Comm bool
	// Task asks for FORK and EXIT records.
	Task bool
}

const defaultDataPages = 64

func (c SampleConfig) check() error {
	switch {
	case c.Period == 0 && c.Freq == 0:
		return errors.New("sample config: neither Period nor Freq is set")
	case c.Period != 0 && c.Freq != 0:
		return errors.New("sample config: both Period and Freq are set")
	case c.DataPages < 0 || (c.DataPages != 0 && bits.OnesCount(uint(c.DataPages)) != 1):
		return fmt.Errorf("sample config: DataPages %d is not a power of two", c.DataPages)
	case c.WakeupEvents != 0 && c.WakeupBytes != 0:
		return errors.New("sample config: both WakeupEvents and WakeupBytes are set")
	case c.BuildID && !c.Mmap:
		return errors.New("sample config: BuildID needs Mmap")
	}
	if bad := uint64(c.sampleType()) &^ decodableSampleTypes; bad != 0 {
		return fmt.Errorf("sample config: sample_type bits %#x are not supported (branch stacks, registers, user stacks, aux)", bad)
	}
	return nil
}

func (c SampleConfig) sampleType() SampleType {
	if c.SampleType == 0 {
		return DefaultSampleType
	}
	return c.SampleType
}

func (c SampleConfig) dataPages() int {
	if c.DataPages == 0 {
		return defaultDataPages
	}
	return c.DataPages
}

// apply sets the sampling fields of the leader's attr.
func (c SampleConfig) apply(a *unix.PerfEventAttr) {
	if c.Freq != 0 {
		a.Sample = c.Freq
		a.Bits |= unix.PerfBitFreq
	} else {
		a.Sample = c.Period
	}
	a.Sample_type = uint64(c.sampleType())
	a.Bits |= unix.PerfBitSampleIDAll
	switch {
	case c.WakeupBytes != 0:
		a.Wakeup = c.WakeupBytes
		a.Bits |= unix.PerfBitWatermark
	case c.WakeupEvents != 0:
		a.Wakeup = c.WakeupEvents
	default:
		a.Wakeup = 1
	}
	if c.Mmap {
		a.Bits |= unix.PerfBitMmap | unix.PerfBitMmap2
	}
	if c.BuildID {
		a.Bits |= unix.PerfBitBuildID
	}
	if c.Comm {
		a.Bits |= unix.PerfBitComm | unix.PerfBitCommExec
	}
	if c.Task {
		a.Bits |= unix.PerfBitTask
	}
}

// OpenSampler opens g on t with its leader sampling per cfg and maps
// the leader's ring buffer. Errors are as for OpenCounter; a
// configuration the decoder cannot handle is refused before any system
// call.
//
// The kernel cannot map the ring of a per-task event with inherit, so a
// target with Inherit and CPU -1 (a launched command with its children)
// is opened once per online CPU, {PID, cpu, Inherit}, the way perf record
// does; the Sampler then reads one ring per CPU and its counts are summed
// over CPUs.
func (s *Source) OpenSampler(g pmu.Group, t pmu.Target, cfg SampleConfig) (_ *Sampler, err error) {
	if len(g.Events) == 0 {
		return nil, errors.New("perfevent: open sampler: empty group")
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("perfevent: open sampler %s: %w", g, err)
	}
	if err := checkTarget(t); err != nil {
		return nil, fmt.Errorf("perfevent: open sampler %s: %w", g, err)
	}
	targets := []pmu.Target{t}
	if t.Inherit && t.CPU == -1 {
		cpus, err := s.host.onlineCPUs()
		if err != nil {
			return nil, fmt.Errorf("perfevent: open sampler %s: inherited task needs per-CPU rings: %w", g, err)
		}
		targets = targets[:0]
		for _, c := range cpus {
			tc := t
			tc.CPU = c
			targets = append(targets, tc)
		}
	}
	sm := &Sampler{group: g}
	defer func() {
		if err != nil {
			sm.Close()
		}
	}()
	var leaders []int
	for _, tc := range targets {
		c, err := s.openGroup(g, tc, groupReadFormat, false, func(i int, a *unix.PerfEventAttr) {
			if i == 0 {
				cfg.apply(a)
			}
		})
		if err != nil {
			return nil, err
		}
		sm.groups = append(sm.groups, c)
		leaders = append(leaders, c.fds[0])
	}
	format := recordFormat{
		sampleType:  uint64(cfg.sampleType()),
		readFormat:  groupReadFormat,
		sampleIDAll: true,
		maxGroup:    len(g.Events),
	}
	sm.Reader, err = newReader(leaders, cfg.dataPages(), format)
	if err != nil {
		return nil, fmt.Errorf("perfevent: open sampler %s: %w", g, err)
	}
	return sm, nil
}

// Sampler is a sampling group (one per CPU for inherited tasks) and the
// reader of its rings. ReadRecord and Close may be called concurrently
// (Close unblocks ReadRecord); the other methods must be called from one
// goroutine at a time.
type Sampler struct {
	*Reader
	group  pmu.Group
	groups []*Counter
}

// Counters returns the sampling groups, one per ring.
func (s *Sampler) Counters() []*Counter { return s.groups }

// Enable starts every group.
func (s *Sampler) Enable() error { return s.each((*Counter).Enable) }

// Disable stops every group.
func (s *Sampler) Disable() error { return s.each((*Counter).Disable) }

func (s *Sampler) each(f func(*Counter) error) error {
	var errs []error
	for _, c := range s.groups {
		errs = append(errs, f(c))
	}
	return errors.Join(errs...)
}

// Read returns the group's counts summed over the per-CPU groups (raw
// counts, enabled and running times all summed), IDs of the first.
func (s *Sampler) Read() ([]pmu.Value, error) {
	var out, scratch []pmu.Value
	for _, c := range s.groups {
		var err error
		if scratch, err = c.ReadInto(scratch); err != nil {
			return nil, err
		}
		if out == nil {
			out = append(out, scratch...)
			continue
		}
		for i, v := range scratch {
			out[i].Raw += v.Raw
			out[i].Enabled += v.Enabled
			out[i].Running += v.Running
		}
	}
	return out, nil
}

// Close unblocks any ReadRecord, unmaps the rings and closes the groups.
// It is idempotent.
func (s *Sampler) Close() error {
	var errs []error
	if s.Reader != nil {
		errs = append(errs, s.Reader.Close())
	}
	for _, c := range s.groups {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
