package profiler

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpmu/vpmu/pmu/perfevent"
)

// RecordReader is a source of decoded perf_event ring-buffer records:
// *perfevent.Sampler and *perfevent.Reader implement it. ReadRecord
// follows [perfevent.Reader.ReadRecord]: it blocks until a record
// arrives, returns ctx.Err() when ctx ends first (with ctx already done
// it reads without blocking), io.EOF once the counted target has exited
// and its records are read, and an error wrapping
// [perfevent.ErrCorruptRing] for a damaged ring that it skipped.
type RecordReader interface {
	ReadRecord(ctx context.Context) (perfevent.Record, error)
}

// DefaultPerfPollInterval is how often a [PerfStream] looks into its
// rings even when the kernel has not woken it. A ring is only signalled
// after WakeupEvents samples or WakeupBytes bytes, so the side-band
// records (MMAP2, COMM) of a CPU that takes few samples could otherwise
// sit unread for longer than [RecordOptions].Window while the samples
// that need them are read from other rings.
const DefaultPerfPollInterval = 100 * time.Millisecond

// perfQueue is how many records may wait between the readers and Next.
const perfQueue = 256

// PerfStreamStats counts what a PerfStream read but did not turn into
// events, and what it skipped.
type PerfStreamStats struct {
	// Throttles counts PERF_RECORD_THROTTLE records: the kernel stopped
	// sampling for a while because the rate exceeded
	// kernel.perf_event_max_sample_rate (or the interrupt time limit).
	Throttles uint64
	// Unknown counts records of types a profile has no use for.
	Unknown uint64
	// CorruptRings counts ring-buffer errors: each time, the records
	// between the reader's position and the kernel's were skipped.
	CorruptRings uint64
}

// PerfStream adapts perf_event sampling records to a [Stream]: SAMPLE to
// [*Sample], MMAP and MMAP2 to [*MmapEvent], COMM to [*CommEvent], FORK
// and EXIT to [*ForkEvent] and [*ExitEvent], LOST and LOST_SAMPLES to
// [*LostEvent]. It reads any number of readers (for example one
// [perfevent.Sampler] per thread of an attached process), each on its own
// goroutine, and ends with io.EOF when every reader has ended, or when
// [PerfStream.Stop] was called and the rings are drained. It does not
// merge the readers by time: [Record] does that within its window.
//
// The samplers should be opened with [perfevent.DefaultSampleType] (IP,
// TID, TIME, CPU, PERIOD; CALLCHAIN for call stacks) and with Mmap, Comm
// and Task set, so that every record is timed and every sample can be
// resolved.
//
// Next must be called from one goroutine at a time; Stop, Close and
// Stats may be called from any goroutine. The caller must call Close,
// which ends the goroutines; PerfStream does not close the readers.
type PerfStream struct {
	readers  []RecordReader
	interval time.Duration

	startOnce sync.Once
	recs      chan perfItem // closed when every reader goroutine ended
	quit      chan struct{} // closed by Close: readers stop at once
	run       context.Context
	cancel    context.CancelFunc
	stopping  atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup

	corrupt atomic.Uint64

	// Owned by Next.
	sample Sample
	mmap   MmapEvent
	comm   CommEvent
	fork   ForkEvent
	exit   ExitEvent
	lost   LostEvent
	err    error // first fatal reader error

	mu        sync.Mutex // guards throttles and unknown, for Stats
	throttles uint64
	unknown   uint64
}

// perfItem is one record, or the error that ended a reader.
type perfItem struct {
	rec perfevent.Record
	err error
}

// NewPerfStream returns a stream over the readers. Reading starts at the
// first Next. interval is how often each reader looks at its rings
// without a wakeup; 0 means [DefaultPerfPollInterval].
func NewPerfStream(interval time.Duration, readers ...RecordReader) *PerfStream {
	if interval <= 0 {
		interval = DefaultPerfPollInterval
	}
	run, cancel := context.WithCancel(context.Background())
	return &PerfStream{
		readers:  readers,
		interval: interval,
		recs:     make(chan perfItem, perfQueue),
		quit:     make(chan struct{}),
		run:      run,
		cancel:   cancel,
	}
}

// start launches one goroutine per reader, and one that closes recs
// when they have all ended.
func (s *PerfStream) start() {
	s.startOnce.Do(func() {
		s.wg.Add(len(s.readers))
		for _, r := range s.readers {
			go s.pump(r)
		}
		go func() {
			s.wg.Wait()
			close(s.recs)
		}()
	})
}

// pump moves r's records into recs until r ends, Stop has drained it,
// or Close.
func (s *PerfStream) pump(r RecordReader) {
	defer s.wg.Done()
	for {
		ctx, cancel := context.WithTimeout(s.run, s.interval)
		err := s.pumpUntil(ctx, r)
		cancel()
		switch {
		case err == nil:
			continue // the interval ended: look at the rings again
		case errors.Is(err, io.EOF), errors.Is(err, errQuit):
			return
		case errors.Is(err, errStopped):
			s.drain(r)
			return
		}
		s.send(perfItem{err: err})
		return
	}
}

var (
	errQuit    = errors.New("perf stream closed")
	errStopped = errors.New("perf stream stopped")
)

// pumpUntil reads r until ctx ends. It returns nil when ctx's own
// deadline passed, errStopped or errQuit when the stream was stopped or
// closed, io.EOF when r ended, or the error that ended r.
func (s *PerfStream) pumpUntil(ctx context.Context, r RecordReader) error {
	for {
		rec, err := r.ReadRecord(ctx)
		switch {
		case err == nil:
			if !s.send(perfItem{rec: rec}) {
				return errQuit
			}
			continue
		case errors.Is(err, perfevent.ErrCorruptRing):
			s.corrupt.Add(1)
			continue
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			if s.run.Err() == nil {
				return nil
			}
			if s.stopping.Load() {
				return errStopped
			}
			return errQuit
		}
		return err
	}
}

// drain reads what r still holds without blocking.
func (s *PerfStream) drain(r RecordReader) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		rec, err := r.ReadRecord(done)
		if errors.Is(err, perfevent.ErrCorruptRing) {
			s.corrupt.Add(1)
			continue
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
				s.send(perfItem{err: err})
			}
			return
		}
		if !s.send(perfItem{rec: rec}) {
			return
		}
	}
}

// send queues it unless the stream is closed.
func (s *PerfStream) send(it perfItem) bool {
	select {
	case s.recs <- it:
		return true
	case <-s.quit:
		return false
	}
}

// Next returns the next event. It returns io.EOF once every reader has
// ended (or after Stop, once the rings are drained), the first error
// that ended a reader after the records read before it, and ctx.Err()
// when ctx ends first. The event is valid until the following call.
func (s *PerfStream) Next(ctx context.Context) (Event, error) {
	s.start()
	for {
		var it perfItem
		var ok bool
		select {
		case it, ok = <-s.recs:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !ok {
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		if it.err != nil {
			if s.err == nil {
				s.err = it.err
			}
			continue // the other readers may still have records
		}
		if ev := s.convert(it.rec); ev != nil {
			return ev, nil
		}
	}
}

// convert maps one record to an event, reusing the stream's storage; nil
// for records a profile does not use.
func (s *PerfStream) convert(rec perfevent.Record) Event {
	t := rec.Header().Identity.Time
	switch r := rec.(type) {
	case *perfevent.SampleRecord:
		s.sample = Sample{
			IP:     r.IP,
			Stack:  CallchainStack(s.sample.Stack[:0], r.IP, r.Callchain),
			PID:    pid(r.PID),
			TID:    pid(r.TID),
			CPU:    int(r.CPU),
			VCPU:   -1,
			Period: r.Period,
			Time:   r.Time,
		}
		return &s.sample
	case *perfevent.Mmap2Record:
		s.mmap = MmapEvent{PID: pid(r.PID), TID: pid(r.TID), Time: t, Mapping: Mapping{
			Start: r.Addr, Limit: r.Addr + r.Len, Offset: r.Pgoff,
			File: r.Filename, BuildID: hex.EncodeToString(r.BuildID),
		}}
		return &s.mmap
	case *perfevent.MmapRecord:
		s.mmap = MmapEvent{PID: pid(r.PID), TID: pid(r.TID), Time: t, Mapping: Mapping{
			Start: r.Addr, Limit: r.Addr + r.Len, Offset: r.Pgoff, File: r.Filename,
		}}
		return &s.mmap
	case *perfevent.CommRecord:
		s.comm = CommEvent{PID: pid(r.PID), TID: pid(r.TID), Comm: r.Comm, Exec: r.Exec(), Time: t}
		return &s.comm
	case *perfevent.ForkRecord:
		if r.Type == perfevent.RecordExit {
			s.exit = ExitEvent{PID: pid(r.PID), PPID: pid(r.PPID), TID: pid(r.TID), PTID: pid(r.PTID), Time: r.Time}
			return &s.exit
		}
		s.fork = ForkEvent{PID: pid(r.PID), PPID: pid(r.PPID), TID: pid(r.TID), PTID: pid(r.PTID), Time: r.Time}
		return &s.fork
	case *perfevent.LostRecord:
		s.lost = LostEvent{Count: r.Lost, Time: t}
		return &s.lost
	case *perfevent.LostSamplesRecord:
		s.lost = LostEvent{Count: r.Lost, Time: t}
		return &s.lost
	case *perfevent.ThrottleRecord:
		if r.Type == perfevent.RecordThrottle {
			s.mu.Lock()
			s.throttles++
			s.mu.Unlock()
		}
		return nil
	}
	s.mu.Lock()
	s.unknown++
	s.mu.Unlock()
	return nil
}

// pid converts a record's pid or tid; the kernel writes -1 for "none".
func pid(v uint32) int { return int(int32(v)) }

// Stop ends the stream gracefully: each reader stops waiting for the
// kernel, returns what its rings still hold, and the stream then ends
// with io.EOF. Disable the samplers first when the target still runs, so
// that the rings stop filling. Stop is idempotent and may be called from
// any goroutine.
func (s *PerfStream) Stop() {
	s.stopping.Store(true)
	s.cancel()
}

// Close ends the reader goroutines without draining and waits for them.
// Next then returns io.EOF (or the first reader error). It is idempotent
// and may be called from any goroutine; it does not close the readers.
func (s *PerfStream) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		close(s.quit)
		s.startOnce.Do(func() { close(s.recs) }) // Next never ran
		s.wg.Wait()
	})
	return nil
}

// Stats returns the counts so far.
func (s *PerfStream) Stats() PerfStreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return PerfStreamStats{Throttles: s.throttles, Unknown: s.unknown, CorruptRings: s.corrupt.Load()}
}
