package hypervisor

import "sync"

// The readiness interface epoll waits on. These declarations match the
// file-system family's fd_poll.go (hv-fs branch), which defines the same
// pollable, waker and waitQueue for poll and select: when the branches
// merge, this file is deleted and epoll, eventfd, pipes and the standard
// input share one mechanism.

// pollable is implemented by files whose readiness changes (eventfd,
// epoll itself, pipes, the standard input). Files that do not implement
// it never block (regular files); epoll refuses them with EPERM, as
// Linux does.
type pollable interface {
	// readiness returns the poll events (EPOLLIN, EPOLLOUT, EPOLLERR,
	// EPOLLHUP ...: the POLL* bits) that hold now. It must not block.
	readiness() uint32
	// waitQueue returns the queue notified whenever readiness may have
	// changed.
	waitQueue() *waitQueue
}

// waker is something parked on wait queues: an epoll interest, a
// thread blocked in a read.
type waker interface{ notify() }

// waitQueue is the set of wakers to notify when a file's readiness may
// have changed. Safe for concurrent use. A file calls notify without
// holding its own lock: a waker reads the readiness back.
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

// notify tells every waker to look again. The wakers run without the
// queue's lock, so they may add and remove themselves.
func (q *waitQueue) notify() {
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
		w.notify()
	}
}
