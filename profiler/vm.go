package profiler

import (
	"context"
	"io"
	"sync"

	"github.com/vpmu/vpmu/hypervisor"
)

// DefaultVMQueue is how many samples a VMStream holds before it drops
// them (and counts them lost).
const DefaultVMQueue = 1 << 16

// VMStream adapts the virtual PMIs of a vpmu hypervisor VM to a [Stream].
// It is the VM's [hypervisor.SampleSink]: the VMM calls Sample on its
// VCPU goroutines, and VMStream queues, without blocking, a [Sample] for
// each, preceded by [MmapEvent]s whenever the guest's file mappings
// changed; [Record] reads them from another goroutine:
//
//	stream := profiler.NewVMStream("vm0", 0)
//	vm, _ := hypervisor.New(hypervisor.Config{VPMU: hypervisor.VPMUConfig{
//		Sampling: hypervisor.SamplingConfig{Event: ev, Freq: 1000, Stacks: true, Sink: stream}}})
//	done := make(chan struct{})
//	go func() { defer close(done); profiler.Record(ctx, stream, b, profiler.RecordOptions{Window: -1}) }()
//	vm.Run(ctx, prog, argv)
//	stream.Close() // Run returned: no more samples
//	<-done
//
// Records come in the order the VMM took them, a mapping before the
// samples taken in it, so Record needs no reordering (Window -1).
// Samples carry the guest's PID and TID, the thread's name, the VCPU,
// the PCPU slot as CPU, the VM's name, the overflows' events as Period
// and the frame-pointer walk as Stack. A guest mapping that disappears is
// overwritten by an anonymous one, so later samples there stay unnamed.
//
// Sample, Close and Stats may be called concurrently; Next from one
// goroutine at a time.
type VMStream struct {
	vm  string
	max int

	mu     sync.Mutex
	queue  []Event
	queued int // samples in queue
	// maps is the last snapshot turned into MmapEvents, by process.
	maps   map[int]*hypervisor.GuestMaps
	closed bool
	// dropped counts samples not queued since the last LostEvent.
	dropped uint64
	stats   VMStreamStats
	wake    chan struct{}

	// Owned by Next.
	cur []Event
	pos int
}

// VMStreamStats counts what a VMStream passed on.
type VMStreamStats struct {
	// Samples were queued; Lost were dropped because the queue was full
	// (Record was not reading fast enough); Mmaps are the mapping events.
	Samples, Lost, Mmaps uint64
}

// NewVMStream returns a stream for the samples of the VM called vm (its
// "vm" label). It holds at most queue samples (0 means DefaultVMQueue).
func NewVMStream(vm string, queue int) *VMStream {
	if queue <= 0 {
		queue = DefaultVMQueue
	}
	return &VMStream{vm: vm, max: queue, maps: make(map[int]*hypervisor.GuestMaps), wake: make(chan struct{}, 1)}
}

// Sample queues a sample of the VM (hypervisor.SampleSink). It copies
// what it keeps and never blocks.
func (s *VMStream) Sample(hs *hypervisor.Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if hs.Maps != nil && s.maps[hs.PID] != hs.Maps {
		s.mappingsChanged(hs.PID, hs.TID, s.maps[hs.PID], hs.Maps, hs.Time)
		s.maps[hs.PID] = hs.Maps
	}
	if s.queued >= s.max {
		s.dropped++
		s.stats.Lost++
		return
	}
	if s.dropped > 0 {
		s.queue = append(s.queue, &LostEvent{Count: s.dropped, Time: hs.Time})
		s.dropped = 0
	}
	s.queue = append(s.queue, &Sample{
		IP: hs.IP, Stack: append([]uint64(nil), hs.Stack...), PID: hs.PID, TID: hs.TID, Comm: hs.Comm,
		CPU: hs.PCPU, VCPU: hs.VCPU, VM: s.vm, Period: hs.Period, Time: hs.Time,
	})
	s.queued++
	s.stats.Samples++
	s.signal()
}

// mappingsChanged queues the difference between two snapshots of a
// process's file mappings: mappings gone become anonymous, new ones are
// mapped. Called with mu held.
func (s *VMStream) mappingsChanged(pid, tid int, old, cur *hypervisor.GuestMaps, t uint64) {
	if t > 0 {
		t-- // before the sample that saw them
	}
	have := func(g *hypervisor.GuestMaps, m hypervisor.GuestMapping) bool {
		if g == nil {
			return false
		}
		for _, o := range g.Maps {
			if o == m {
				return true
			}
		}
		return false
	}
	if old != nil {
		for _, m := range old.Maps {
			if !have(cur, m) {
				s.queue = append(s.queue, &MmapEvent{VM: s.vm, PID: pid, TID: tid, Time: t,
					Mapping: Mapping{Start: m.Start, Limit: m.Limit, File: "//anon"}})
				s.stats.Mmaps++
			}
		}
	}
	for _, m := range cur.Maps {
		if !have(old, m) {
			s.queue = append(s.queue, &MmapEvent{VM: s.vm, PID: pid, TID: tid, Time: t,
				Mapping: Mapping{Start: m.Start, Limit: m.Limit, Offset: m.Offset, File: m.File, BuildID: m.BuildID}})
			s.stats.Mmaps++
		}
	}
}

// signal wakes Next. Called with mu held.
func (s *VMStream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close says no more samples will come (the VM's Run returned): Next
// returns io.EOF once it has returned what is queued. Samples after Close
// are dropped.
func (s *VMStream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.dropped > 0 {
		s.queue = append(s.queue, &LostEvent{Count: s.dropped})
		s.dropped = 0
	}
	s.closed = true
	s.signal()
}

// Next returns the next record (Stream). It blocks until there is one,
// the stream is closed and drained (io.EOF), or ctx is done.
func (s *VMStream) Next(ctx context.Context) (Event, error) {
	for {
		if s.pos < len(s.cur) {
			ev := s.cur[s.pos]
			s.cur[s.pos] = nil
			s.pos++
			return ev, nil
		}
		s.mu.Lock()
		s.cur, s.queue = s.queue, s.cur[:0]
		s.pos = 0
		s.queued = 0
		closed := s.closed
		s.mu.Unlock()
		if len(s.cur) > 0 {
			continue
		}
		if closed {
			return nil, io.EOF
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stats returns what the stream passed on so far.
func (s *VMStream) Stats() VMStreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
