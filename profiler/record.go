package profiler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Stream is a source of sampling records in the neutral form of this
// package. The perf_event ring-buffer reader and the vpmu hypervisor's
// virtual-PMI log are each adapted to it in a few lines (see the package
// documentation).
type Stream interface {
	// Next returns the next record. It blocks until one is available,
	// the stream ends (io.EOF), or ctx is done (ctx.Err()). The returned
	// Event is only valid until the following call: a source may reuse
	// it and its slices.
	Next(ctx context.Context) (Event, error)
}

// RecordOptions tunes Record.
type RecordOptions struct {
	// Window is how far out of time order records may arrive: Record
	// holds each record until one newer by more than Window has arrived,
	// and applies them in timestamp order, so that a mapping is known
	// before the samples taken in it even when they were read first.
	// Zero means DefaultReorderWindow; a negative value applies records
	// in arrival order.
	Window time.Duration
}

// RecordStats counts the records Record applied.
type RecordStats struct {
	Samples, Mmaps, Comms, Forks, Exits, LostRecords uint64
	// Lost is the number of samples the source reported lost.
	Lost uint64
	// BadMmaps counts mappings refused as malformed (empty ranges).
	BadMmaps uint64
}

// Record reads s until it ends and feeds b: samples to b.Add, lost counts
// to b.AddLost, and MMAP, COMM and FORK records to b.Processes(), in
// timestamp order (see RecordOptions.Window). It returns nil when the
// stream ends with io.EOF. Any other error, ctx's included, is returned as
// is after every record read so far has been applied, so the builder can
// still write what was recorded.
func Record(ctx context.Context, s Stream, b *Builder, opts RecordOptions) (RecordStats, error) {
	var st RecordStats
	window := opts.Window
	if window == 0 {
		window = DefaultReorderWindow
	}
	var r *reorder
	if window > 0 {
		r = &reorder{window: uint64(window)}
	}
	drain := func(all bool) {
		for r != nil {
			ev, ok := r.next(all)
			if !ok {
				return
			}
			apply(ev, b, &st)
		}
	}
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			drain(true)
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, err
		}
		if isNil(ev) {
			drain(true)
			return st, fmt.Errorf("profiler: stream returned a nil %T", ev)
		}
		if r == nil {
			apply(ev, b, &st)
			continue
		}
		r.push(ev)
		drain(false)
	}
}

// apply hands one record to the builder or its process table.
func apply(ev Event, b *Builder, st *RecordStats) {
	procs := b.Processes()
	switch ev := ev.(type) {
	case *Sample:
		st.Samples++
		b.Add(ev)
	case *MmapEvent:
		st.Mmaps++
		if err := procs.Mmap(ev.VM, ev.PID, ev.Mapping); err != nil {
			st.BadMmaps++
		}
	case *CommEvent:
		st.Comms++
		procs.Comm(ev.VM, ev.PID, ev.TID, ev.Comm, ev.Exec)
	case *ForkEvent:
		st.Forks++
		procs.Fork(ev.VM, ev.PID, ev.PPID, ev.TID, ev.PTID)
	case *ExitEvent:
		// Nothing to undo: late samples of the thread may still be in
		// another CPU's buffer (see Processes).
		st.Exits++
	case *LostEvent:
		st.LostRecords++
		st.Lost += ev.Count
		b.AddLost(ev.Count)
	}
}

// isNil reports whether ev is nil or a nil pointer of one of the event
// types.
func isNil(ev Event) bool {
	switch ev := ev.(type) {
	case *Sample:
		return ev == nil
	case *MmapEvent:
		return ev == nil
	case *CommEvent:
		return ev == nil
	case *ForkEvent:
		return ev == nil
	case *ExitEvent:
		return ev == nil
	case *LostEvent:
		return ev == nil
	}
	return true
}
