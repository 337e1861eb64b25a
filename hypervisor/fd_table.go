package hypervisor

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// File is an open file description of the guest. The syscall_fs*.go
// handlers call it on the calling thread's VCPU goroutine; it must be
// safe for concurrent use by several threads. Embed fileBase for the
// defaults (EINVAL/ESPIPE/ENOTTY/ENODEV, like a file that supports
// nothing).
type File interface {
	// Read reads into dst at the file offset. A file whose read would
	// wait for something the guest controls returns errWouldBlock; the
	// handler then calls ReadWait off the VCPU.
	Read(t *Thread, dst guestBuf) (int, error)
	// ReadWait is Read that may wait; ctx is cancelled when the thread
	// must stop waiting.
	ReadWait(ctx context.Context, dst guestBuf) (int, error)
	// Write writes src at the file offset.
	Write(t *Thread, src guestBuf) (int, error)
	// Pread reads at off without moving the offset.
	Pread(t *Thread, dst guestBuf, off int64) (int, error)
	// Pwrite writes at off without moving the offset.
	Pwrite(t *Thread, src guestBuf, off int64) (int, error)
	// Seek implements lseek.
	Seek(off int64, whence int) (int64, error)
	// Stat returns the struct stat of the file.
	Stat() (unix.Stat_t, error)
	// Ioctl implements ioctl(2).
	Ioctl(t *Thread, req, arg uint64) (uint64, error)
	// MmapSource returns what mmap copies from (ENODEV if the file
	// cannot be mapped).
	MmapSource() (fileSource, error)
	// Close releases the file; called when the last fd is closed.
	Close() error
}

// errWouldBlock is returned by File.Read when it would wait, and by
// File.Write of a writeWaiter.
var errWouldBlock = errors.New("would block")

// writeWaiter is implemented by files whose writes can wait for
// something the guest controls (an eventfd whose count would overflow).
// Their Write returns errWouldBlock instead of waiting; the write system
// calls then call WriteWait off the VCPU, unless the open file is
// O_NONBLOCK (EAGAIN). ctx is cancelled when the thread must stop
// waiting.
type writeWaiter interface {
	WriteWait(ctx context.Context, src guestBuf) (int, error)
}

// threadReadWaiter is implemented by files whose blocking read depends
// on the thread that reads (a signalfd reads that thread's signals):
// when Read returned errWouldBlock, the read system calls wait in
// readWaitAs, off the VCPU, instead of ReadWait. ctx is cancelled when
// the thread must stop waiting.
type threadReadWaiter interface {
	readWaitAs(ctx context.Context, t *Thread, dst guestBuf) (int, error)
}

// fileBase supplies File methods for files that lack the operation.
type fileBase struct{}

func (fileBase) Read(*Thread, guestBuf) (int, error)             { return 0, unix.EINVAL }
func (fileBase) ReadWait(context.Context, guestBuf) (int, error) { return 0, unix.EINVAL }
func (fileBase) Write(*Thread, guestBuf) (int, error)            { return 0, unix.EINVAL }
func (fileBase) Pread(*Thread, guestBuf, int64) (int, error)     { return 0, unix.ESPIPE }
func (fileBase) Pwrite(*Thread, guestBuf, int64) (int, error)    { return 0, unix.ESPIPE }
func (fileBase) Seek(int64, int) (int64, error)                  { return 0, unix.ESPIPE }
func (fileBase) Ioctl(*Thread, uint64, uint64) (uint64, error)   { return 0, unix.ENOTTY }
func (fileBase) MmapSource() (fileSource, error)                 { return nil, unix.ENODEV }
func (fileBase) Close() error                                    { return nil }

// openFile is an open file description: the File, the status flags
// (the access mode, O_APPEND, O_NONBLOCK ... as fcntl F_GETFL shows
// them) and a count of the fds and calls using it (dup shares it); the
// last to let go closes the File.
type openFile struct {
	File
	refs  atomic.Int32
	flags atomic.Int32
}

// nonblock reports whether O_NONBLOCK is set.
func (o *openFile) nonblock() bool { return o.flags.Load()&unix.O_NONBLOCK != 0 }

// statusFlags keeps the open flags that F_GETFL reports.
func statusFlags(flags int) int32 {
	return int32(flags &^ (unix.O_CLOEXEC | unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOCTTY | unix.O_NOFOLLOW | unix.O_DIRECTORY))
}

func (o *openFile) decRef() error {
	if o.refs.Add(-1) == 0 {
		return o.File.Close()
	}
	return nil
}

type fdEntry struct {
	file    *openFile
	cloexec bool
}

// maxFDs is RLIMIT_NOFILE's default soft limit.
const maxFDs = 1024

// fdTable is the guest's file-descriptor table, with the rest of the
// process's file-system state: the working directory and the umask.
// Safe for concurrent use.
type fdTable struct {
	mu  sync.Mutex
	fds map[int]fdEntry
	// cwd is the working directory (a *hostFile of a directory), nil
	// until setCwd; mu protects it.
	cwd *openFile
	// umask is the file-mode creation mask.
	umask atomic.Uint32
}

// newFDTable creates the table with fds 0, 1 and 2 from cfg.
func newFDTable(cfg Config) *fdTable {
	t := &fdTable{fds: map[int]fdEntry{}}
	t.umask.Store(hostUmask())
	t.installFlags(newStdinFile(cfg.Stdin), unix.O_RDONLY)
	t.installFlags(&writerFile{w: cfg.Stdout, name: "stdout", ino: pipeInodes.Add(1)}, unix.O_WRONLY)
	t.installFlags(&writerFile{w: cfg.Stderr, name: "stderr", ino: pipeInodes.Add(1)}, unix.O_WRONLY)
	return t
}

// get returns the file of fd (EBADF if none). The caller must call
// put when done with it, so that a concurrent close cannot close the
// file under it.
func (t *fdTable) get(fd int) (*openFile, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.fds[fd]
	if !ok {
		return nil, unix.EBADF
	}
	e.file.refs.Add(1)
	return e.file, nil
}

// put releases a file returned by get.
func (t *fdTable) put(f *openFile) { f.decRef() }

// installFlags adds f, opened with the given open flags, at the lowest
// free fd (EMFILE when full): O_CLOEXEC sets the fd flag, the access mode
// and status flags are kept for F_GETFL. It takes ownership of f: on
// failure f is closed.
func (t *fdTable) installFlags(f File, flags int) (int, error) {
	cloexec := flags&unix.O_CLOEXEC != 0
	o := &openFile{File: f}
	o.refs.Store(1)
	o.flags.Store(statusFlags(flags))
	t.mu.Lock()
	defer t.mu.Unlock()
	for fd := 0; fd < maxFDs; fd++ {
		if _, used := t.fds[fd]; !used {
			t.fds[fd] = fdEntry{file: o, cloexec: cloexec}
			return fd, nil
		}
	}
	f.Close()
	return 0, unix.EMFILE
}

// close removes fd (EBADF if none).
func (t *fdTable) close(fd int) error {
	t.mu.Lock()
	e, ok := t.fds[fd]
	delete(t.fds, fd)
	t.mu.Unlock()
	if !ok {
		return unix.EBADF
	}
	return e.file.decRef()
}

// closeAll closes every fd and lets go of the working directory, when
// the process is gone.
func (t *fdTable) closeAll() {
	t.mu.Lock()
	fds := t.fds
	t.fds = map[int]fdEntry{}
	cwd := t.cwd
	t.cwd = nil
	t.mu.Unlock()
	for _, e := range fds {
		e.file.decRef()
	}
	if cwd != nil {
		cwd.decRef()
	}
}

// statSize is sizeof(struct stat) on x86-64.
const statSize = 144

// encodeStat lays st out as the x86-64 struct stat.
func encodeStat(st *unix.Stat_t) []byte {
	b := make([]byte, statSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], st.Dev)
	le.PutUint64(b[8:], st.Ino)
	le.PutUint64(b[16:], st.Nlink)
	le.PutUint32(b[24:], st.Mode)
	le.PutUint32(b[28:], st.Uid)
	le.PutUint32(b[32:], st.Gid)
	le.PutUint64(b[40:], st.Rdev)
	le.PutUint64(b[48:], uint64(st.Size))
	le.PutUint64(b[56:], uint64(st.Blksize))
	le.PutUint64(b[64:], uint64(st.Blocks))
	le.PutUint64(b[72:], uint64(st.Atim.Sec))
	le.PutUint64(b[80:], uint64(st.Atim.Nsec))
	le.PutUint64(b[88:], uint64(st.Mtim.Sec))
	le.PutUint64(b[96:], uint64(st.Mtim.Nsec))
	le.PutUint64(b[104:], uint64(st.Ctim.Sec))
	le.PutUint64(b[112:], uint64(st.Ctim.Nsec))
	return b
}

// dupFrom installs of (a reference from get, which it consumes) at the
// lowest free fd >= min (F_DUPFD).
func (t *fdTable) dupFrom(of *openFile, min int, cloexec bool) (uint64, error) {
	if min < 0 || min >= maxFDs {
		of.decRef()
		return 0, unix.EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for fd := min; fd < maxFDs; fd++ {
		if _, used := t.fds[fd]; !used {
			t.fds[fd] = fdEntry{file: of, cloexec: cloexec}
			return uint64(fd), nil
		}
	}
	of.decRef()
	return 0, unix.EMFILE
}
