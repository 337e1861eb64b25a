package hypervisor

import (
	"context"
	"io"
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// The guest's fds 0-2 are streams over Config.Stdin/Stdout/Stderr. They
// look like pipes to the guest (S_IFIFO, not a terminal: ioctl TCGETS
// fails with ENOTTY), so a C program buffers its output as it would in a
// pipeline.

// pipeStat is the struct stat of the stdio streams.
func pipeStat() unix.Stat_t {
	return unix.Stat_t{Mode: unix.S_IFIFO | 0o600, Nlink: 1, Blksize: 4096}
}

// writerFile is a write-only stream over an io.Writer.
type writerFile struct {
	fileBase
	name string
	mu   sync.Mutex // serializes writes: the io.Writer need not be safe
	w    io.Writer
}

func (f *writerFile) Write(_ *Thread, src guestBuf) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := src.drain(f.w.Write)
	if err != nil && err != unix.EFAULT {
		// The host side failed: what a write to a broken pipe gets.
		return n, unix.EPIPE
	}
	return n, err
}

func (f *writerFile) Read(*Thread, guestBuf) (int, error) { return 0, unix.EBADF }
func (f *writerFile) Stat() (unix.Stat_t, error)          { return pipeStat(), nil }

// stdinFile is a read-only stream over an io.Reader. A pump goroutine
// started by the first read that must wait moves data from the reader
// into buf, one read at a time, so that a thread can stop waiting (its
// process exits, a signal interrupts it) even though an io.Reader cannot
// be interrupted; what the pump reads afterwards stays in buf for the
// next read. If the reader never returns, the pump stays blocked in it
// until it does.
type stdinFile struct {
	fileBase
	r io.Reader

	mu   sync.Mutex // protects buf, eof, reqs and inflight
	buf  []byte     // data read by the pump and not yet consumed
	eof  bool
	reqs chan *stdinReq // nil until the pump starts
	// inflight is the read the pump is doing, nil when it is idle.
	inflight *stdinReq
}

// stdinReq is one read of the pump; done is closed when its data (or
// EOF) is in buf.
type stdinReq struct {
	max  int
	done chan struct{}
}

func newStdinFile(r io.Reader) *stdinFile { return &stdinFile{r: r} }

func (f *stdinFile) Read(t *Thread, dst guestBuf) (int, error) {
	if f.r == nil || dst.Len() == 0 {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.take(dst)
}

// take reads from buf: errWouldBlock when it is empty before EOF.
// Called with mu held.
func (f *stdinFile) take(dst guestBuf) (int, error) {
	if len(f.buf) > 0 {
		n, err := dst.fill(func(p []byte) (int, error) { return copy(p, f.buf), nil })
		f.buf = f.buf[n:]
		return n, err
	}
	if f.eof {
		return 0, nil
	}
	return 0, errWouldBlock
}

func (f *stdinFile) ReadWait(ctx context.Context, dst guestBuf) (int, error) {
	for {
		f.mu.Lock()
		if n, err := f.take(dst); err != errWouldBlock {
			f.mu.Unlock()
			return n, err
		}
		if f.reqs == nil {
			f.reqs = make(chan *stdinReq, 1)
			go f.pump(f.reqs)
		}
		req := f.inflight
		if req == nil {
			// The pump is idle and the channel has room.
			req = &stdinReq{max: dst.Len(), done: make(chan struct{})}
			f.inflight = req
			f.reqs <- req
		}
		f.mu.Unlock()
		select {
		case <-req.done:
		case <-ctx.Done():
			return 0, unix.EINTR
		}
	}
}

// pump serves read requests from the reader, one at a time, until
// Close closes reqs.
func (f *stdinFile) pump(reqs chan *stdinReq) {
	for req := range reqs {
		p := make([]byte, min(req.max, 64<<10))
		n, err := f.r.Read(p)
		f.mu.Lock()
		f.buf = append(f.buf, p[:n]...)
		if n == 0 && err != nil {
			f.eof = true
		}
		f.inflight = nil
		close(req.done)
		f.mu.Unlock()
	}
}

// Close stops the pump once it returns from the reader. No ReadWait is
// in flight: the caller holds the last reference.
func (f *stdinFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reqs != nil {
		close(f.reqs)
		f.reqs = nil
	}
	return nil
}

func (f *stdinFile) Write(*Thread, guestBuf) (int, error) { return 0, unix.EBADF }
func (f *stdinFile) Stat() (unix.Stat_t, error)           { return pipeStat(), nil }
