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

// Reader reads decoded records from a perf ring buffer, blocking in
// poll(2) on the perf fd and an eventfd until records arrive, the
// context ends, or Close is called.
//
// ReadRecord must be called from one goroutine at a time; Close may be
// called from any goroutine at any time, unblocks a pending ReadRecord
// (which then returns ErrClosed), and is idempotent. The Reader does not
// own the perf fd.
type Reader struct {
	fd     int
	wakeFD int // eventfd: Close and context cancellation write to it
	format recordFormat

	mu   sync.Mutex // held by ReadRecord; Close takes it to tear down
	ring *ring      // guarded by mu
	mr   *mappedRing
	hup  bool // guarded by mu: poll said the target is gone

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// wakeMu orders writes to wakeFD (from Close and from context
	// callbacks that may run late, on their own goroutine) with its
	// closing, so a late callback never writes to a reused fd number.
	wakeMu     sync.Mutex
	wakeClosed bool

	// Lost counts records the kernel dropped (sum of LOST records seen).
	lost atomic.Uint64
}

func newReader(fd, dataPages int, f recordFormat) (*Reader, error) {
	mr, err := mapRing(fd, dataPages)
	if err != nil {
		return nil, err
	}
	rg, err := newRing(mr.meta, mr.data)
	if err != nil {
		mr.unmap()
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		mr.unmap()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &Reader{fd: fd, wakeFD: wake, format: f, ring: rg, mr: mr}, nil
}

// Lost returns the number of records the kernel reported lost so far
// (PERF_RECORD_LOST), because the ring was full.
func (r *Reader) Lost() uint64 { return r.lost.Load() }

// ReadRecord returns the next record. It blocks until one is available
// and returns ctx.Err() when the context ends first, ErrClosed after
// Close, and io.EOF once the counted target has exited and every record
// it left has been read. A corrupt ring yields an error wrapping
// ErrCorruptRing after skipping to the kernel's write position; reading
// may continue.
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
		raw, ok, err := r.ring.next()
		if err != nil {
			r.ring.skipAll()
			return nil, err
		}
		if ok {
			rec, err := decodeRecord(raw, r.format)
			r.ring.advance()
			if err != nil {
				return nil, err
			}
			if l, isLost := rec.(*LostRecord); isLost {
				r.lost.Add(l.Lost)
			}
			return rec, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r.hup {
			return nil, io.EOF
		}
		if err := r.poll(); err != nil {
			return nil, err
		}
	}
}

// poll waits for the perf fd or the wake eventfd.
func (r *Reader) poll() error {
	fds := []unix.PollFd{
		{Fd: int32(r.fd), Events: unix.POLLIN},
		{Fd: int32(r.wakeFD), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll perf fd %d: %w", r.fd, os.NewSyscallError("poll", err))
		}
		break
	}
	if fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
		r.hup = true
	}
	if fds[0].Revents&unix.POLLNVAL != 0 {
		return fmt.Errorf("poll perf fd %d: fd is not open", r.fd)
	}
	if fds[1].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		unix.Read(r.wakeFD, buf[:]) // reset the eventfd; EAGAIN is fine
	}
	return nil
}

// wake interrupts a poll in progress.
func (r *Reader) wake() {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if !r.wakeClosed {
		one := [8]byte{1}
		unix.Write(r.wakeFD, one[:])
	}
}

// Close unblocks ReadRecord, unmaps the ring and closes the eventfd. It
// does not close the perf fd.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.wake()
		r.mu.Lock() // wait for a ReadRecord in progress to return
		defer r.mu.Unlock()
		err := r.mr.unmap()
		r.wakeMu.Lock()
		r.wakeClosed = true
		if cerr := unix.Close(r.wakeFD); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close eventfd: %w", cerr))
		}
		r.wakeMu.Unlock()
		r.closeErr = err
	})
	return r.closeErr
}
