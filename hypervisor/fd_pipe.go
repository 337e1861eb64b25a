package hypervisor

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// Pipes (pipe, pipe2) are VMM-internal: a ring buffer between guest
// threads. A thread that must wait parks off its VCPU on a pipeWaiter,
// without a goroutine; whoever makes progress for it (the other end's
// reads and writes, a close) copies the data between the ring and its
// guest buffers and wakes it with the result. Writes of at most PIPE_BUF
// bytes are atomic. A write that finds no reader left, or loses the last
// one while it waits, raises SIGPIPE on the writing thread (before it
// resumes) and fails with EPIPE, or returns what it wrote already
// (pipe_write).

const (
	pipeBuf         = 4096     // PIPE_BUF
	pipeDefaultSize = 64 << 10 // a pipe's default capacity
	pipeMaxSize     = 1 << 20  // /proc/sys/fs/pipe-max-size
)

var pipeInodes atomic.Uint64

// pipe is the shared state of a pipe's ends.
type pipe struct {
	ino uint64
	q   waitQueue

	mu               sync.Mutex // protects everything below
	buf              []byte     // the ring; len is the capacity
	head, count      int
	readers, writers int
	rq, wq           []*pipeWaiter // parked (or about to park) readers, writers: FIFO
}

// pipeWaiter is one read or write waiting on a pipe.
type pipeWaiter struct {
	p     *pipe
	t     *Thread
	write bool
	bufs  []guestBuf // what is left to read into or write from
	left  uint64     // bytes left (writes)
	need  uint64     // bytes that must fit at once (an atomic write), else 1
	done  uint64     // bytes moved so far
	// hold is the open file the call holds while it waits, released
	// when it ends (nil: none).
	hold *openFile

	// Set under p.mu when the wait ends.
	finished bool
	ret      uint64
	err      error
	// sigpipe: the write ended because no reader was left; the writer
	// gets SIGPIPE.
	sigpipe bool
}

// newPipe returns the read and write ends of a new pipe.
func newPipe() (*pipeEnd, *pipeEnd) {
	p := &pipe{ino: pipeInodes.Add(1), buf: make([]byte, pipeDefaultSize), readers: 1, writers: 1}
	return &pipeEnd{p: p}, &pipeEnd{p: p, write: true}
}

// open adds an end (reopening /proc/self/fd/N of a pipe).
func (p *pipe) open(write bool) *pipeEnd {
	p.mu.Lock()
	if write {
		p.writers++
	} else {
		p.readers++
	}
	p.mu.Unlock()
	return &pipeEnd{p: p, write: write}
}

// pipeEnd is one end of a pipe: a File.
type pipeEnd struct {
	fileBase
	p     *pipe
	write bool
}

// Read and Write never wait (EAGAIN): the read and write system calls
// use rw, which parks the thread.
func (e *pipeEnd) Read(t *Thread, dst guestBuf) (int, error) {
	n, err := e.rw(t, []guestBuf{dst}, false, true, nil)
	return int(n), err
}

func (e *pipeEnd) Write(t *Thread, src guestBuf) (int, error) {
	n, err := e.rw(t, []guestBuf{src}, true, true, nil)
	return int(n), err
}

func (e *pipeEnd) Stat() (unix.Stat_t, error) {
	return unix.Stat_t{Mode: unix.S_IFIFO | 0o600, Ino: e.p.ino, Nlink: 1, Blksize: pipeBuf,
		Uid: uint32(unix.Getuid()), Gid: uint32(unix.Getgid())}, nil
}

func (e *pipeEnd) fdPath() string { return "pipe:[" + strconv.FormatUint(e.p.ino, 10) + "]" }

func (e *pipeEnd) Ioctl(t *Thread, req, arg uint64) (uint64, error) {
	if req == fionread {
		e.p.mu.Lock()
		n := e.p.count
		e.p.mu.Unlock()
		return 0, t.proc.mm.WriteUint32(arg, uint32(n))
	}
	return 0, unix.ENOTTY
}

// rw reads into (or, with write, writes from) bufs, parking t until the
// call can complete unless nonblock (then EAGAIN). It returns t.park's
// result when it waits. EBADF for the wrong end. It takes over the
// reference hold (may be nil) on the open file and releases it when the
// call ends, so the end stays open while the call waits.
func (e *pipeEnd) rw(t *Thread, bufs []guestBuf, write, nonblock bool, hold *openFile) (uint64, error) {
	if write != e.write {
		if hold != nil {
			hold.decRef()
		}
		return 0, unix.EBADF
	}
	var total uint64
	for _, b := range bufs {
		total += b.n
	}
	if total == 0 {
		if hold != nil {
			hold.decRef()
		}
		return 0, nil
	}
	p := e.p
	w := &pipeWaiter{p: p, t: t, write: e.write, bufs: bufs, left: total, need: 1, hold: hold}
	if e.write && total <= pipeBuf {
		w.need = total
	}
	p.mu.Lock()
	if e.write {
		p.wq = append(p.wq, w)
	} else {
		p.rq = append(p.rq, w)
	}
	woken, events := p.pump()
	if !w.finished && nonblock {
		p.dequeue(w)
		w.finished = true
		w.ret, w.err = w.done, nil
		if w.done == 0 {
			w.err = unix.EAGAIN
		}
	}
	// Once mu is released, a parked w belongs to whoever ends its wait.
	finished, ret, err := w.finished, w.ret, w.err
	sigpipe := w.sigpipe
	p.mu.Unlock()
	p.wake(woken, w, events)
	if finished {
		w.release()
		if sigpipe {
			t.signalSelf(sigPIPE)
		}
		return ret, err
	}
	return t.park(w)
}

// release lets go of the open file the call held.
func (w *pipeWaiter) release() {
	if w.hold != nil {
		w.hold.decRef()
		w.hold = nil
	}
}

// pump moves data between the ring and the parked waiters as far as it
// can. It returns the waiters whose calls completed, and the events
// that may have come for pollers: POLLIN when data came in (every write,
// as Linux wakes epoll on every write), POLLOUT when a read made room in
// a pipe that had less than PIPE_BUF free. Called with mu held.
func (p *pipe) pump() (woken []*pipeWaiter, events uint32) {
	finish := func(w *pipeWaiter, ret uint64, err error) {
		w.finished, w.ret, w.err = true, ret, err
		woken = append(woken, w)
	}
	for progress := true; progress; {
		progress = false
		for len(p.rq) > 0 {
			r := p.rq[0]
			if p.count == 0 && p.writers > 0 {
				break
			}
			p.rq = p.rq[1:]
			wasFull := len(p.buf)-p.count < pipeBuf
			n, err := p.copyOut(r.bufs)
			if n > 0 && wasFull {
				events |= pollOut | pollWrNorm
			}
			finish(r, n, err)
			progress = true
		}
		for len(p.wq) > 0 {
			w := p.wq[0]
			if p.readers == 0 {
				p.wq = p.wq[1:]
				w.sigpipe = true
				if w.done > 0 {
					finish(w, w.done, nil)
				} else {
					finish(w, 0, unix.EPIPE)
				}
				progress = true
				continue
			}
			if len(p.buf)-p.count < int(min(w.need, w.left)) {
				break
			}
			n, err := p.copyIn(w)
			if n > 0 {
				progress = true
				events |= pollIn | pollRdNorm
			}
			if w.left > 0 && err == nil {
				break
			}
			p.wq = p.wq[1:]
			if err != nil && w.done == 0 {
				finish(w, 0, err)
			} else {
				finish(w, w.done, nil)
			}
			progress = true
		}
	}
	return woken, events
}

// tailRoom returns the free space of the ring that starts at its tail
// and is contiguous. The ring must not be full.
func (p *pipe) tailRoom() []byte {
	tail := (p.head + p.count) % len(p.buf)
	end := len(p.buf)
	if tail < p.head {
		end = p.head
	}
	return p.buf[tail:end]
}

// consume drops n bytes from the ring's head. It returns the events for
// the writers (pollOut) when the room for an atomic write was not there
// before.
func (p *pipe) consume(n int) uint32 {
	var events uint32
	if len(p.buf)-p.count < pipeBuf {
		events = pollOut | pollWrNorm
	}
	p.head = (p.head + n) % len(p.buf)
	if p.count -= n; p.count == 0 {
		p.head = 0
	}
	return events
}

// copyOut moves up to the ring's contents into bufs. EFAULT, moving
// nothing, if the first buffer is not writable.
func (p *pipe) copyOut(bufs []guestBuf) (uint64, error) {
	var total uint64
	for _, b := range bufs {
		n, err := b.fill(func(dst []byte) (int, error) {
			k := 0
			for k < len(dst) && p.count > 0 {
				end := min(p.head+p.count, len(p.buf))
				c := copy(dst[k:], p.buf[p.head:end])
				k += c
				p.head = (p.head + c) % len(p.buf)
				p.count -= c
			}
			return k, nil
		})
		total += uint64(n)
		if err != nil {
			if total == 0 {
				return 0, err
			}
			break
		}
		if p.count == 0 || uint64(n) < b.n {
			break
		}
	}
	if p.count == 0 {
		p.head = 0
	}
	return total, nil
}

// copyIn moves as much of w's data as fits into the ring, advancing w.
func (p *pipe) copyIn(w *pipeWaiter) (uint64, error) {
	var moved uint64
	for len(w.bufs) > 0 && p.count < len(p.buf) {
		b := w.bufs[0]
		n, err := b.drain(func(src []byte) (int, error) {
			k := 0
			for k < len(src) && p.count < len(p.buf) {
				c := copy(p.tailRoom(), src[k:])
				k += c
				p.count += c
			}
			return k, nil
		})
		moved += uint64(n)
		w.done += uint64(n)
		w.left -= uint64(n)
		if err != nil {
			return moved, err
		}
		if uint64(n) < b.n {
			w.bufs[0] = b.advance(uint64(n))
			break
		}
		w.bufs = w.bufs[1:]
	}
	return moved, nil
}

// dequeue takes w off its queue. Called with mu held.
func (p *pipe) dequeue(w *pipeWaiter) bool {
	q := &p.rq
	if w.write {
		q = &p.wq
	}
	for i, x := range *q {
		if x == w {
			*q = append((*q)[:i:i], (*q)[i+1:]...)
			return true
		}
	}
	return false
}

// wake wakes the completed waiters other than self (whose caller
// returns its result) and tells pollers that events may have come (none:
// no notification). A writer that lost its readers gets SIGPIPE queued
// before it is woken, so that it acts on it as its write returns. Called
// without mu.
func (p *pipe) wake(woken []*pipeWaiter, self *pipeWaiter, events uint32) {
	for _, w := range woken {
		if w != self {
			w.release()
			w.t.unpark()
			if w.sigpipe {
				w.t.signalSelf(sigPIPE)
			}
			w.t.proc.vm.sched.wake(w.t, w.ret, w.err)
		}
	}
	if events != 0 {
		p.q.notify(events)
	}
}

// interrupt ends a parked wait: EINTR, or the bytes a write already
// moved. The waiters queued behind it may go on now (a writer waiting
// for room for an atomic write held up smaller ones).
func (w *pipeWaiter) interrupt() {
	p := w.p
	p.mu.Lock()
	if w.finished || !p.dequeue(w) {
		p.mu.Unlock()
		return
	}
	w.finished = true
	w.ret, w.err = w.done, nil
	if w.done == 0 {
		w.err = unix.EINTR
	}
	woken, events := p.pump()
	p.mu.Unlock()
	w.release()
	w.t.unpark()
	w.t.proc.vm.sched.wake(w.t, w.ret, w.err)
	p.wake(woken, nil, events)
}

func (e *pipeEnd) readiness() uint32 {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var ev uint32
	if e.write {
		if len(p.buf)-p.count >= pipeBuf {
			ev |= pollOut | pollWrNorm
		}
		if p.readers == 0 {
			ev |= pollErr
		}
		return ev
	}
	if p.count > 0 {
		ev |= pollIn | pollRdNorm
	}
	if p.writers == 0 {
		ev |= pollHup
	}
	return ev
}

func (e *pipeEnd) waitQueue() *waitQueue { return &e.p.q }

// Close drops this end: the last writer's close ends parked reads with
// EOF, the last reader's fails parked writes with EPIPE.
func (e *pipeEnd) Close() error {
	p := e.p
	p.mu.Lock()
	if e.write {
		p.writers--
	} else {
		p.readers--
	}
	woken, _ := p.pump()
	p.mu.Unlock()
	p.wake(woken, nil, notifyAll)
	return nil
}

// pipeSizeFor is the capacity F_SETPIPE_SZ gives for a request of n
// bytes (an unsigned int to Linux): n rounded up to a power of two of at
// least a page; EINVAL beyond 2 GiB, EPERM beyond pipe-max-size (the
// guest has no CAP_SYS_RESOURCE).
func pipeSizeFor(n uint32) (int, error) {
	if n > 1<<31 {
		return 0, unix.EINVAL
	}
	size := pageSize
	for size < int(n) {
		size <<= 1
	}
	if size > pipeMaxSize {
		return 0, unix.EPERM
	}
	return size, nil
}

// size returns the capacity (F_GETPIPE_SZ).
func (p *pipe) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

// resize sets the capacity (F_SETPIPE_SZ), rounded up to a power of two
// of at least a page: EBUSY if the contents would not fit, EPERM beyond
// pipe-max-size. The room it makes lets waiting writers go on, as
// pipe_set_size wakes them.
func (p *pipe) resize(n uint32) (int, error) {
	size, err := pipeSizeFor(n)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	if p.count > size {
		p.mu.Unlock()
		return 0, unix.EBUSY
	}
	buf := make([]byte, size)
	for k := 0; k < p.count; {
		end := min(p.head+p.count-k, len(p.buf))
		c := copy(buf[k:], p.buf[p.head:end])
		k += c
		p.head = (p.head + c) % len(p.buf)
	}
	p.buf, p.head = buf, 0
	woken, events := p.pump()
	if size-p.count >= pipeBuf {
		events |= pollOut | pollWrNorm
	}
	p.mu.Unlock()
	p.wake(woken, nil, events)
	return size, nil
}
