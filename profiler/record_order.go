package profiler

import (
	"container/heap"
	"time"
)

// DefaultReorderWindow is how far out of time order records may arrive
// and still be applied in order, when RecordOptions.Window is zero.
// perf_event rings are per CPU and read in turn, so a record can be read
// after later records of other CPUs by up to the time the reader lags
// behind; a second covers a reader woken a few times per second.
const DefaultReorderWindow = time.Second

// reorder buffers events and releases them in order of their timestamps,
// once a record newer by more than the window has arrived (or at the
// end). Records without a timestamp are ordered as if they had the
// newest one seen so far: after everything that arrived before them.
type reorder struct {
	window uint64
	latest uint64 // newest timestamp seen
	seq    uint64 // arrival counter, the tie-break
	h      eventHeap
}

type pending struct {
	time, seq uint64
	ev        Event
}

type eventHeap []pending

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time < h[j].time
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = pending{}
	*h = old[:len(old)-1]
	return x
}

// push buffers a copy of ev: a Stream may reuse the event it returned.
func (r *reorder) push(ev Event) {
	t := ev.time()
	if t == 0 {
		t = r.latest
	}
	r.latest = max(r.latest, t)
	r.seq++
	heap.Push(&r.h, pending{time: t, seq: r.seq, ev: ev.clone()})
}

// next returns the oldest buffered event if it is older than the newest
// by more than the window, or any buffered event when all is set.
func (r *reorder) next(all bool) (Event, bool) {
	if len(r.h) == 0 {
		return nil, false
	}
	if !all && r.latest-r.h[0].time <= r.window {
		return nil, false
	}
	return heap.Pop(&r.h).(pending).ev, true
}
