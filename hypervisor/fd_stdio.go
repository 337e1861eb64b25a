package hypervisor

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// The guest's fds 0-2 are streams over Config.Stdin/Stdout/Stderr. They
// look like pipes to the guest (S_IFIFO, not a terminal: ioctl TCGETS
// fails with ENOTTY), so a C program buffers its output as it would in a
// pipeline; splice, tee and vmsplice take them as pipes too
// (syscall_fs_splice.go).

// stdioSize is a standard stream's pipe capacity, as F_GETPIPE_SZ and
// F_SETPIPE_SZ see it. The streams have no ring of their own (the
// standard output always has room; the standard input holds what its
// pump read), so the capacity is what the guest last set, checked and
// rounded as for a VMM pipe.
type stdioSize struct{ n atomic.Int64 } // 0: pipeDefaultSize

func (s *stdioSize) get() int {
	if n := s.n.Load(); n != 0 {
		return int(n)
	}
	return pipeDefaultSize
}

// set sets the capacity for a request of n bytes while held bytes are
// in the stream: EBUSY if they would not fit.
func (s *stdioSize) set(n uint32, held int) (int, error) {
	size, err := pipeSizeFor(n)
	if err != nil {
		return 0, err
	}
	if held > size {
		return 0, unix.EBUSY
	}
	s.n.Store(int64(size))
	return size, nil
}

// pipeStat is the struct stat of a stdio stream with inode number ino.
func pipeStat(ino uint64) unix.Stat_t {
	return unix.Stat_t{Mode: unix.S_IFIFO | 0o600, Ino: ino, Nlink: 1, Blksize: 4096,
		Uid: uint32(unix.Getuid()), Gid: uint32(unix.Getgid())}
}

// writerFile is a write-only stream over an io.Writer.
type writerFile struct {
	fileBase
	name string
	ino  uint64
	size stdioSize
	mu   sync.Mutex // serializes writes: the io.Writer need not be safe
	w    io.Writer
}

// Write writes to the host's writer. When that fails (its reader went
// away, as in 'vpmu run yes | head -1'), the guest sees what a write to
// a broken pipe gets: SIGPIPE on the writing thread and EPIPE.
func (f *writerFile) Write(t *Thread, src guestBuf) (int, error) {
	n, err := f.write(src)
	if err == unix.EPIPE && t != nil {
		t.signalSelf(sigPIPE)
	}
	return n, err
}

// write is Write without the SIGPIPE, which the caller raises when it
// gets EPIPE (splice writes holding a pipe's lock, which a fatal signal
// would need to end the process's other waits).
func (f *writerFile) write(src guestBuf) (int, error) {
	f.mu.Lock()
	n, err := src.drain(f.w.Write)
	f.mu.Unlock()
	if err != nil && err != unix.EFAULT {
		return n, unix.EPIPE
	}
	return n, err
}

func (f *writerFile) Read(*Thread, guestBuf) (int, error) { return 0, unix.EBADF }
func (f *writerFile) Stat() (unix.Stat_t, error)          { return pipeStat(f.ino), nil }
func (f *writerFile) fdPath() string                      { return "pipe:[" + strconv.FormatUint(f.ino, 10) + "]" }

// stdinFile is a read-only stream over an io.Reader. A pump goroutine
// started by the first read or poll that finds nothing buffered reads
// the reader into buf, one request at a time, and notifies the file's
// wait queue; reads and polls wait on that queue, so a thread can stop
// waiting (its process exits) even though an io.Reader cannot be
// interrupted. If the reader never returns, the pump stays blocked in
// it until it does.
type stdinFile struct {
	fileBase
	r    io.Reader
	ino  uint64
	q    waitQueue
	size stdioSize

	mu          sync.Mutex    // protects buf, eof, reqs and prefetching
	buf         []byte        // data read by the pump and not yet consumed
	eof         bool          // the reader reported EOF or an error
	reqs        chan stdinReq // nil until the pump starts; never closed
	quit        chan struct{} // closed by Close: the pump and prefetch stop
	prefetching bool          // a poll asked the pump for data
}

type stdinReq struct {
	max  int
	resp chan []byte // nil slice after EOF
}

func newStdinFile(r io.Reader) *stdinFile {
	return &stdinFile{r: r, ino: pipeInodes.Add(1), quit: make(chan struct{})}
}

// resize is F_SETPIPE_SZ: EBUSY if what the pump read and the guest has
// not would not fit.
func (f *stdinFile) resize(n uint32) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size.set(n, len(f.buf))
}

// Read reads what the pump brought; with nothing there it asks the pump
// for more in the background and returns errWouldBlock (0 at the end).
func (f *stdinFile) Read(t *Thread, dst guestBuf) (int, error) {
	if dst.Len() == 0 {
		return 0, nil
	}
	return f.take(dst.Len(), false, func(b []byte) (int, error) {
		return dst.fill(func(p []byte) (int, error) { return copy(p, b), nil })
	})
}

// take calls write, holding mu, with up to max bytes of the data the
// pump brought, and unless peek consumes what write took. With nothing
// there it asks the pump for more in the background and returns 0 and
// errWouldBlock, or 0 and nil at the end. It makes the standard input a
// pipe's read end for splice and tee (spliceSrc); write must not keep
// the slice.
func (f *stdinFile) take(max int, peek bool, write func([]byte) (int, error)) (int, error) {
	if f.r == nil {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.buf) == 0 {
		if f.eof {
			return 0, nil
		}
		f.prefetch()
		return 0, errWouldBlock
	}
	n, err := write(f.buf[:min(max, len(f.buf))])
	if !peek {
		f.buf = f.buf[n:]
	}
	return n, err
}

// startPump starts the pump goroutine if needed and returns its request
// channel. Called with mu held.
func (f *stdinFile) startPump() chan stdinReq {
	if f.reqs == nil {
		f.reqs = make(chan stdinReq)
		go f.pump(f.reqs)
	}
	return f.reqs
}

// fetch asks the pump for more data and waits for it (nil after EOF,
// or when Close ends the wait).
func (f *stdinFile) fetch(reqs chan stdinReq) []byte {
	resp := make(chan []byte, 1)
	select {
	case reqs <- stdinReq{max: 64 << 10, resp: resp}:
	case <-f.quit:
		return nil
	}
	select {
	case d := <-resp:
		return d
	case <-f.quit:
		return nil
	}
}

// ReadWait waits until the pump brought data (or EOF), then reads.
func (f *stdinFile) ReadWait(ctx context.Context, dst guestBuf) (int, error) {
	return f.q.waitFor(ctx, func() (int, error) {
		for {
			n, err := f.Read(nil, dst)
			// readiness asks the pump for data; it may have come.
			if err != errWouldBlock || f.readiness() == 0 {
				return n, err
			}
		}
	})
}

// pump serves read requests from the reader, one at a time, until
// Close. After the reader's EOF or error it answers at once with no
// data.
func (f *stdinFile) pump(reqs chan stdinReq) {
	eof := false
	for {
		var req stdinReq
		select {
		case req = <-reqs:
		case <-f.quit:
			return
		}
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

// readiness is POLLIN when data or EOF is there; otherwise it asks the
// pump for data in the background and notifies when it comes.
func (f *stdinFile) readiness() uint32 {
	if f.r == nil {
		return pollIn | pollRdNorm | pollHup
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case len(f.buf) > 0:
		return pollIn | pollRdNorm
	case f.eof:
		return pollIn | pollRdNorm | pollHup
	}
	f.prefetch()
	return 0
}

// prefetch asks the pump for data in the background, unless it was
// asked already, and notifies when it comes. Called with mu held.
func (f *stdinFile) prefetch() {
	if f.prefetching {
		return
	}
	f.prefetching = true
	reqs := f.startPump()
	go func() {
		data := f.fetch(reqs)
		f.mu.Lock()
		f.prefetching = false
		f.buf = append(f.buf, data...)
		f.mu.Unlock()
		f.q.notify(pollIn | pollRdNorm)
	}()
}

func (f *stdinFile) waitQueue() *waitQueue { return &f.q }

// Close stops the pump once it returns from the reader, and any
// prefetch.
func (f *stdinFile) Close() error {
	close(f.quit)
	return nil
}

func (f *stdinFile) Write(*Thread, guestBuf) (int, error) { return 0, unix.EBADF }
func (f *stdinFile) Stat() (unix.Stat_t, error)           { return pipeStat(f.ino), nil }
func (f *stdinFile) fdPath() string                       { return "pipe:[" + strconv.FormatUint(f.ino, 10) + "]" }

func (f *stdinFile) Ioctl(t *Thread, req, arg uint64) (uint64, error) {
	if req == fionread {
		f.mu.Lock()
		n := len(f.buf)
		f.mu.Unlock()
		return 0, t.proc.mm.WriteUint32(arg, uint32(n))
	}
	return 0, unix.ENOTTY
}
