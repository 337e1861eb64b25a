package hypervisor

import (
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// futexTable holds the threads waiting on futex words of one process.
// Private and shared futexes are the same here: the process is the only
// one in its address space. Safe for concurrent use.
type futexTable struct {
	mu sync.Mutex
	q  map[uint64][]*futexWaiter // FIFO per address
}

// futexWaiter is one thread parked on a futex word. The thread waits
// off its VCPU without a goroutine; whoever ends the wait (a waker, the
// timeout, an interrupt) removes the waiter from its queue first, under
// futexTable.mu, so exactly one of them calls done.
type futexWaiter struct {
	ft     *futexTable
	t      *Thread
	addr   uint64 // current queue (changes on requeue); futexTable.mu
	bitset uint32
	woken  bool        // futexTable.mu
	timer  *time.Timer // the timeout, nil for none; set before the waiter is visible
}

func newFutexTable() *futexTable { return &futexTable{q: map[uint64][]*futexWaiter{}} }

// enqueue atomically checks that the word at addr still holds val and
// queues t as a waiter with a timeout at deadline (zero: none): EAGAIN if
// the value differs, EFAULT if unreadable, EINVAL if unaligned.
func (ft *futexTable) enqueue(mm *MM, addr uint64, val, bitset uint32, t *Thread, deadline time.Time) (*futexWaiter, error) {
	if addr&3 != 0 {
		return nil, unix.EINVAL
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	cur, err := mm.atomicLoad32(addr)
	if err != nil {
		return nil, err
	}
	if cur != val {
		return nil, unix.EAGAIN
	}
	w := &futexWaiter{ft: ft, t: t, addr: addr, bitset: bitset}
	if !deadline.IsZero() {
		w.timer = time.AfterFunc(time.Until(deadline), func() {
			if ft.cancel(w) {
				w.done(unix.ETIMEDOUT)
			}
		})
	}
	ft.q[addr] = append(ft.q[addr], w)
	return w, nil
}

// interrupt ends the wait with EINTR unless it already ended.
func (w *futexWaiter) interrupt() {
	if w.ft.cancel(w) {
		w.done(unix.EINTR)
	}
}

// done ends the wait with err (nil: woken). Called once, by whoever took
// the waiter off its queue, without futexTable.mu.
func (w *futexWaiter) done(err error) {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.t.unpark()
	w.t.proc.vm.sched.wake(w.t, 0, err)
}

// cancel removes a waiter that was not woken; false if it was.
func (ft *futexTable) cancel(w *futexWaiter) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if w.woken {
		return false
	}
	q := ft.q[w.addr]
	for i, x := range q {
		if x == w {
			ft.q[w.addr] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(ft.q[w.addr]) == 0 {
		delete(ft.q, w.addr)
	}
	return true
}

// wake wakes up to n waiters on addr whose bitset intersects bitset and
// returns how many it woke.
func (ft *futexTable) wake(addr uint64, n int, bitset uint32) int {
	ft.mu.Lock()
	woken := ft.dequeue(addr, n, bitset)
	ft.mu.Unlock()
	for _, w := range woken {
		w.done(nil)
	}
	return len(woken)
}

// dequeue takes up to n waiters of addr whose bitset intersects bitset
// off the queue and marks them woken. The caller calls done on each
// after releasing mu. Called with mu held.
func (ft *futexTable) dequeue(addr uint64, n int, bitset uint32) []*futexWaiter {
	q := ft.q[addr]
	var woken []*futexWaiter
	rest := q[:0]
	for _, w := range q {
		if len(woken) < n && w.bitset&bitset != 0 {
			w.woken = true
			woken = append(woken, w)
			continue
		}
		rest = append(rest, w)
	}
	clear(q[len(rest):])
	if len(rest) == 0 {
		delete(ft.q, addr)
	} else {
		ft.q[addr] = rest
	}
	return woken
}

// requeue wakes up to nwake waiters of from and moves up to nmove of the
// rest to to. With cmp set, it first checks that the word at from holds
// val (EAGAIN otherwise). It returns woken plus moved.
func (ft *futexTable) requeue(mm *MM, from, to uint64, nwake, nmove int, cmp bool, val uint32) (int, error) {
	if from&3 != 0 || to&3 != 0 {
		return 0, unix.EINVAL
	}
	ft.mu.Lock()
	if cmp {
		cur, err := mm.atomicLoad32(from)
		if err == nil && cur != val {
			err = unix.EAGAIN
		}
		if err != nil {
			ft.mu.Unlock()
			return 0, err
		}
	}
	woken := ft.dequeue(from, nwake, ^uint32(0))
	defer func() {
		for _, w := range woken {
			w.done(nil)
		}
	}()
	defer ft.mu.Unlock()
	if from == to {
		return len(woken), nil
	}
	q := ft.q[from]
	k := min(nmove, len(q))
	for _, w := range q[:k] {
		w.addr = to
	}
	ft.q[to] = append(ft.q[to], q[:k]...)
	if k == len(q) {
		delete(ft.q, from)
	} else {
		ft.q[from] = append([]*futexWaiter(nil), q[k:]...)
	}
	return len(woken) + k, nil
}
