package hypervisor

import (
	"context"
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

// futexWaiter is one thread waiting on a futex word.
type futexWaiter struct {
	addr   uint64 // current queue (changes on requeue); futexTable.mu
	bitset uint32
	woken  bool          // futexTable.mu
	wake   chan struct{} // receives one value when woken
}

func newFutexTable() *futexTable { return &futexTable{q: map[uint64][]*futexWaiter{}} }

// enqueue atomically checks that the word at addr still holds val and
// queues a waiter: EAGAIN if the value differs, EFAULT if unreadable,
// EINVAL if unaligned.
func (ft *futexTable) enqueue(mm *MM, addr uint64, val, bitset uint32) (*futexWaiter, error) {
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
	w := &futexWaiter{addr: addr, bitset: bitset, wake: make(chan struct{}, 1)}
	ft.q[addr] = append(ft.q[addr], w)
	return w, nil
}

// wait waits for w to be woken, until deadline (zero: none) or until ctx
// is done: 0, ETIMEDOUT or EINTR. Runs off the VCPU.
func (ft *futexTable) wait(ctx context.Context, w *futexWaiter, deadline time.Time) (uint64, error) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-w.wake:
		return 0, nil
	case <-timeout:
		if ft.cancel(w) {
			return 0, unix.ETIMEDOUT
		}
		return 0, nil // woken at the same time: the wake wins
	case <-ctx.Done():
		if ft.cancel(w) {
			return 0, unix.EINTR
		}
		return 0, nil
	}
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
	defer ft.mu.Unlock()
	return ft.wakeLocked(addr, n, bitset)
}

func (ft *futexTable) wakeLocked(addr uint64, n int, bitset uint32) int {
	q := ft.q[addr]
	woken := 0
	rest := q[:0]
	for _, w := range q {
		if woken < n && w.bitset&bitset != 0 {
			w.woken = true
			w.wake <- struct{}{}
			woken++
			continue
		}
		rest = append(rest, w)
	}
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
	defer ft.mu.Unlock()
	if cmp {
		cur, err := mm.atomicLoad32(from)
		if err != nil {
			return 0, err
		}
		if cur != val {
			return 0, unix.EAGAIN
		}
	}
	woken := ft.wakeLocked(from, nwake, ^uint32(0))
	if from == to {
		return woken, nil
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
	return woken + k, nil
}
