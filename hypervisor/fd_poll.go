package hypervisor

import (
	"context"
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// Readiness of files, for poll(2), ppoll, select and pselect6 (and for
// epoll, which can wait on the same queues). A file whose readiness
// changes implements pollable; every other file is always ready, as
// regular files are in Linux.

// Poll event bits (include/uapi/asm-generic/poll.h).
const (
	pollIn     = 0x1
	pollPri    = 0x2
	pollOut    = 0x4
	pollErr    = 0x8
	pollHup    = 0x10
	pollNval   = 0x20
	pollRdNorm = 0x40
	pollRdBand = 0x80
	pollWrNorm = 0x100
	pollWrBand = 0x200
	pollRdHup  = 0x2000

	// pollAlways are reported whether asked for or not.
	pollAlways = pollErr | pollHup | pollNval
	// pollReady is the readiness of a file that never blocks.
	pollReady = pollIn | pollRdNorm | pollOut | pollWrNorm
)

// pollable is implemented by files whose readiness changes: pipes, the
// standard input.
type pollable interface {
	// readiness returns the poll events that hold now. It may start
	// work that makes the file ready later (and then notifies).
	readiness() uint32
	// waitQueue returns the queue notified whenever readiness may have
	// changed.
	waitQueue() *waitQueue
}

// threadPollable is implemented by pollable files whose readiness
// depends on the thread that polls: a signalfd is readable when a signal
// of its mask is pending for that thread or its process. poll, select
// and epoll_wait ask readinessFor with their thread. readiness() must
// then hold the events of any thread (a superset), for those that ask
// without one: a nested epoll, epoll_ctl.
type threadPollable interface {
	readinessFor(t *Thread) uint32
}

// fileReadiness returns f's poll events as thread t sees them (t nil:
// any thread).
func fileReadiness(f File, t *Thread) uint32 {
	if p, ok := f.(pollable); ok {
		return readinessAs(p, t)
	}
	return pollReady
}

// readinessAs returns p's poll events as thread t sees them (t nil:
// any thread).
func readinessAs(p pollable, t *Thread) uint32 {
	if tp, ok := p.(threadPollable); ok && t != nil {
		return tp.readinessFor(t)
	}
	return p.readiness()
}

// waker is something parked on wait queues. notify gets the events
// that may have come (the key of Linux's wake_up_poll): a waiter whose
// interest they miss may ignore the call, and notifyAll says that
// anything may have changed.
type waker interface{ notify(events uint32) }

// notifyAll is the events of a notification after which every waiter
// looks again (a close).
const notifyAll = ^uint32(0)

// chanWaker is a waker that signals a channel, for a goroutine waiting
// on a file.
type chanWaker chan struct{}

func (c chanWaker) notify(uint32) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitQueue is the set of waiters to notify when a file's readiness may
// have changed. Safe for concurrent use; notify must be called without
// the file's own lock held, as a waiter then reads the file's readiness.
type waitQueue struct {
	mu sync.Mutex
	ws map[waker]struct{}
}

func (q *waitQueue) add(w waker) {
	q.mu.Lock()
	if q.ws == nil {
		q.ws = map[waker]struct{}{}
	}
	q.ws[w] = struct{}{}
	q.mu.Unlock()
}

func (q *waitQueue) remove(w waker) {
	q.mu.Lock()
	delete(q.ws, w)
	q.mu.Unlock()
}

// notify tells every waiter that events may have come (notifyAll:
// that anything may have changed).
func (q *waitQueue) notify(events uint32) {
	q.mu.Lock()
	if len(q.ws) == 0 {
		q.mu.Unlock()
		return
	}
	ws := make([]waker, 0, len(q.ws))
	for w := range q.ws {
		ws = append(ws, w)
	}
	q.mu.Unlock()
	for _, w := range ws {
		w.notify(events)
	}
}

// waitFor calls op until it returns something other than errWouldBlock,
// waiting for a notification of q in between; EINTR when ctx is done.
// It is the blocking half of a Read or Write that returned
// errWouldBlock (ReadWait, WriteWait).
func (q *waitQueue) waitFor(ctx context.Context, op func() (int, error)) (int, error) {
	w := make(chanWaker, 1)
	q.add(w)
	defer q.remove(w)
	for {
		n, err := op()
		if err != errWouldBlock {
			return n, err
		}
		select {
		case <-w:
		case <-ctx.Done():
			return 0, unix.EINTR
		}
	}
}

// pollEntry is one file a poll waits on.
type pollEntry struct {
	fd      int
	events  uint32 // requested (POLLERR, POLLHUP, POLLNVAL always count)
	of      *openFile
	revents uint32
}

// pollSet is the files of one poll, select or pselect call, holding a
// reference on each open file while it waits.
type pollSet struct {
	entries []pollEntry
	// t is the thread that polls.
	t *Thread
	// always are the events reported even when not requested (poll's
	// POLLERR|POLLHUP|POLLNVAL; none for select, whose sets say it all).
	always uint32
}

// newPollSet gets the files of the given fds (negative fds are skipped,
// fds that are not open report POLLNVAL).
func (t *Thread) newPollSet(fds []int, events []uint32, always uint32) *pollSet {
	s := &pollSet{entries: make([]pollEntry, len(fds)), always: always, t: t}
	for i, fd := range fds {
		s.entries[i] = pollEntry{fd: fd, events: events[i]}
		if fd >= 0 {
			s.entries[i].of, _ = t.proc.fds.get(fd)
		}
	}
	return s
}

// scan sets revents and returns how many entries have some.
func (s *pollSet) scan() int {
	n := 0
	for i := range s.entries {
		e := &s.entries[i]
		switch {
		case e.fd < 0:
			e.revents = 0
		case e.of == nil:
			e.revents = pollNval
		default:
			e.revents = fileReadiness(e.of.File, s.t) & (e.events | s.always)
		}
		if e.revents != 0 {
			n++
		}
	}
	return n
}

// release lets go of the files.
func (s *pollSet) release() {
	for _, e := range s.entries {
		if e.of != nil {
			e.of.decRef()
		}
	}
}

// queues calls f on the wait queue of each file that has one.
func (s *pollSet) queues(f func(q *waitQueue)) {
	for _, e := range s.entries {
		if e.of != nil {
			if p, ok := e.of.File.(pollable); ok {
				f(p.waitQueue())
			}
		}
	}
}

// pollReport writes the results of a poll or select to guest memory and
// returns the system call's result. interrupted says a signal ended the
// wait: then only the time left is written, and the result is EINTR.
type pollReport func(set *pollSet, interrupted bool) (uint64, error)

// pollWaiter is a thread parked in poll or select until one of its
// files is ready, its timeout passes or it is interrupted. Exactly one
// of these ends the wait: the one that sets done. Notifications that
// find nothing ready leave the wait, and its timer, as they are.
type pollWaiter struct {
	t        *Thread
	set      *pollSet
	report   pollReport
	deadline time.Time // zero: none

	mu    sync.Mutex // protects done
	done  bool
	timer *time.Timer
}

// waitPoll parks t on set until something is ready or the deadline
// (zero: none) passes. The caller has scanned set and found nothing.
func (t *Thread) waitPoll(set *pollSet, deadline time.Time, report pollReport) (uint64, error) {
	w := &pollWaiter{t: t, set: set, report: report, deadline: deadline}
	set.queues(func(q *waitQueue) { q.add(w) })
	// Readiness may have changed before the waiter was queued. A
	// notifier may also have ended the wait already (and woken the
	// thread early, which the scheduler keeps for when it leaves its
	// VCPU): then the thread parks and resumes at once.
	w.mu.Lock()
	if !w.done && set.scan() > 0 {
		w.done = true
		w.mu.Unlock()
		w.unqueue()
		ret, err := report(set, false)
		set.release()
		t.restoreTempMask()
		return ret, err
	}
	if !w.done && !deadline.IsZero() {
		w.timer = time.AfterFunc(time.Until(deadline), w.timeout)
	}
	w.mu.Unlock()
	return t.park(w)
}

func (w *pollWaiter) unqueue() { w.set.queues(func(q *waitQueue) { q.remove(w) }) }

// claim sets done; false if the wait already ended.
func (w *pollWaiter) claim() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return false
	}
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	return true
}

// notify looks at the files again and ends the wait if one is ready.
func (w *pollWaiter) notify(uint32) {
	w.mu.Lock()
	if w.done || w.set.scan() == 0 {
		w.mu.Unlock()
		return
	}
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.finish(false)
}

func (w *pollWaiter) timeout() {
	if w.claim() {
		w.set.scan()
		w.finish(false)
	}
}

// interrupt ends the wait with EINTR.
func (w *pollWaiter) interrupt() {
	if w.claim() {
		w.finish(true)
	}
}

// finish reports and wakes the thread, which is parked: its guest
// memory may be written from here. Unless a signal ended the wait, the
// mask ppoll or pselect6 replaced is back (poll_select_finish); after a
// signal, delivery decides.
func (w *pollWaiter) finish(interrupted bool) {
	w.unqueue()
	ret, err := w.report(w.set, interrupted)
	w.set.release()
	if !interrupted {
		w.t.restoreTempMask()
	}
	w.t.unpark()
	w.t.proc.vm.sched.wake(w.t, ret, err)
}
