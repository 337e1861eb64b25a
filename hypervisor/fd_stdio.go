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
// started by the first read moves data from the reader to waiting
// threads, so that a thread can stop waiting (its process exits) even
// though an io.Reader cannot be interrupted. If the reader never returns,
// the pump stays blocked in it until it does.
type stdinFile struct {
	fileBase
	r io.Reader

	mu   sync.Mutex // protects buf, eof and reqs
	buf  []byte     // data read by the pump and not yet consumed
	eof  bool
	reqs chan stdinReq // nil until the pump starts
}

type stdinReq struct {
	max  int
	resp chan []byte // nil slice after EOF
}

func newStdinFile(r io.Reader) *stdinFile { return &stdinFile{r: r} }

func (f *stdinFile) Read(t *Thread, dst guestBuf) (int, error) {
	if f.r == nil || dst.Len() == 0 {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
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
	f.mu.Lock()
	if f.reqs == nil {
		f.reqs = make(chan stdinReq)
		go f.pump(f.reqs)
	}
	reqs := f.reqs
	f.mu.Unlock()
	resp := make(chan []byte, 1)
	select {
	case reqs <- stdinReq{max: dst.Len(), resp: resp}:
	case <-ctx.Done():
		return 0, unix.EINTR
	}
	var data []byte
	select {
	case data = <-resp:
	case <-ctx.Done():
		return 0, unix.EINTR
	}
	n, err := dst.fill(func(p []byte) (int, error) { return copy(p, data), nil })
	if n < len(data) {
		f.mu.Lock()
		f.buf = append(f.buf, data[n:]...)
		f.mu.Unlock()
	}
	return n, err
}

// pump serves read requests from the reader, one at a time, until
// Close closes reqs. After the reader's EOF or error it answers at once
// with no data.
func (f *stdinFile) pump(reqs chan stdinReq) {
	eof := false
	for req := range reqs {
		if eof {
			req.resp <- nil
			continue
		}
		p := make([]byte, min(req.max, 64<<10))
		n, err := f.r.Read(p)
		if n == 0 && err != nil {
			eof = true
			f.mu.Lock()
			f.eof = true
			f.mu.Unlock()
		}
		req.resp <- p[:n]
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
