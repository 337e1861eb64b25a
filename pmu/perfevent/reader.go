package perfevent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// Reader reads decoded records from one or more perf ring buffers (one
// per CPU when an inherited task is sampled), blocking in poll(2) on the
// perf fds and an eventfd until records arrive, the context ends, or
// Close is called. Records of different rings are not merged by time;
// use the samples' Time field to order them.
//
// ReadRecord must be called from one goroutine at a time; Close may be
// called from any goroutine at any time, unblocks a pending ReadRecord
// (which then returns ErrClosed), and is idempotent. The Reader does not
// own the perf fds.
type Reader struct {
	wakeFD int // eventfd: Close and context cancellation write to it
	format recordFormat

	mu    sync.Mutex    // held by ReadRecord; Close takes it to tear down
	rings []readerRing  // guarded by mu
	pfds  []unix.PollFd // guarded by mu: the rings' fds, then wakeFD
	next  int           // guarded by mu: ring to look at first

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// wakeMu orders writes to wakeFD (from Close and from context
	// callbacks that may run late, on their own goroutine) with its
	// closing, so a late callback never writes to a reused fd number.
	wakeMu     sync.Mutex
	wakeClosed bool

	lost atomic.Uint64 // sum of LOST records seen
}

// readerRing is one mapped ring and its fd.
type readerRing struct {
	fd   int
	mr   *mappedRing
	ring *ring
	hup  bool // poll said the counted target is gone
}

// newReader maps a ring of dataPages on each fd.
func newReader(fds []int, dataPages int, f recordFormat) (_ *Reader, err error) {
	r := &Reader{wakeFD: -1, format: f}
	defer func() {
		if err != nil {
			r.teardown()
		}
	}()
	for _, fd := range fds {
		mr, err := mapRing(fd, dataPages)
		if err != nil {
			return nil, err
		}
		rg, err := newRing(mr.meta, mr.data)
		if err != nil {
			mr.unmap()
			return nil, err
		}
		r.rings = append(r.rings, readerRing{fd: fd, mr: mr, ring: rg})
		r.pfds = append(r.pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	r.wakeFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", os.NewSyscallError("eventfd", err))
	}
	r.pfds = append(r.pfds, unix.PollFd{Fd: int32(r.wakeFD), Events: unix.POLLIN})
	return r, nil
}

// Lost returns the number of records the kernel reported lost so far
// (PERF_RECORD_LOST), because a ring was full.
func (r *Reader) Lost() uint64 { return r.lost.Load() }

// ReadRecord returns the next record. It blocks until one is available
// and returns ctx.Err() when the context ends first (with a context that
// is already done it is a non-blocking read), ErrClosed after Close, and
// io.EOF once the counted target has exited and every record it left
// has been read. A corrupt ring yields an error wrapping ErrCorruptRing
// after skipping to the kernel's write position; reading may continue.
func (r *Reader) ReadRecord(ctx context.Context) (Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return nil, ErrClosed
	}
	stop := context.AfterFunc(ctx, r.wake)
	defer stop()
	for {
		if r.closed.Load() {
			return nil, ErrClosed
		}
		rec, ok, err := r.readAny()
		if ok || err != nil {
			return rec, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r.allHup() {
			return nil, io.EOF
		}
		if err := r.poll(); err != nil {
			return nil, err
		}
	}
}

// readAny returns a record from the first non-empty ring, starting after
// the ring that gave the previous one.
func (r *Reader) readAny() (Record, bool, error) {
	for k := range r.rings {
		i := (r.next + k) % len(r.rings)
		rr := &r.rings[i]
		raw, ok, err := rr.ring.next()
		if err != nil {
			rr.ring.skipAll()
			return nil, false, fmt.Errorf("ring of perf fd %d: %w", rr.fd, err)
		}
		if !ok {
			continue
		}
		r.next = (i + 1) % len(r.rings)
		rec, err := decodeRecord(raw, r.format)
		rr.ring.advance()
		if err != nil {
			return nil, false, err
		}
		if l, isLost := rec.(*LostRecord); isLost {
			r.lost.Add(l.Lost)
		}
		return rec, true, nil
	}
	return nil, false, nil
}

func (r *Reader) allHup() bool {
	for _, rr := range r.rings {
		if !rr.hup {
			return false
		}
	}
	return true
}

// poll waits for a ring's fd or the wake eventfd.
func (r *Reader) poll() error {
	for i := range r.pfds {
		r.pfds[i].Revents = 0
	}
	for {
		_, err := unix.Poll(r.pfds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll perf fds: %w", os.NewSyscallError("poll", err))
		}
		break
	}
	for i := range r.rings {
		ev := r.pfds[i].Revents
		if ev&unix.POLLNVAL != 0 {
			return fmt.Errorf("poll perf fd %d: fd is not open", r.rings[i].fd)
		}
		if ev&(unix.POLLHUP|unix.POLLERR) != 0 {
			r.rings[i].hup = true
			r.pfds[i].Events = 0 // do not spin on a hung-up fd
		}
	}
	if r.pfds[len(r.rings)].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		unix.Read(r.wakeFD, buf[:]) // reset the eventfd; EAGAIN is fine
	}
	return nil
}

// wake interrupts a poll in progress.
func (r *Reader) wake() {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if !r.wakeClosed && r.wakeFD >= 0 {
		one := [8]byte{1}
		unix.Write(r.wakeFD, one[:])
	}
}

// Close unblocks ReadRecord, unmaps the rings and closes the eventfd. It
// does not close the perf fds.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.wake()
		r.mu.Lock() // wait for a ReadRecord in progress to return
		defer r.mu.Unlock()
		r.closeErr = r.teardown()
	})
	return r.closeErr
}

func (r *Reader) teardown() error {
	var errs []error
	for _, rr := range r.rings {
		errs = append(errs, rr.mr.unmap())
	}
	r.rings = nil
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	r.wakeClosed = true
	if r.wakeFD >= 0 {
		if err := unix.Close(r.wakeFD); err != nil {
			errs = append(errs, fmt.Errorf("close eventfd: %w", err))
		}
	}
	return errors.Join(errs...)
}
