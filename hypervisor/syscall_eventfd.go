package hypervisor

import (
	"context"
	"encoding/binary"
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// eventfd and eventfd2 (fs/eventfd.c): a 64-bit counter file. The Go
// runtime wakes its netpoller through one.

func init() {
	registerSyscall(sysEventfd, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.eventfd(a.Uint32(0), 0)
	})
	registerSyscall(sysEventfd2, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.eventfd(a.Uint32(0), a.Int(1))
	})
}

// eventfd2 flags.
const (
	efdSemaphore = 1
	efdCloexec   = unix.O_CLOEXEC
	efdNonblock  = unix.O_NONBLOCK
	// eventfdMax is the largest count: a write that would pass it waits.
	eventfdMax = ^uint64(0) - 1
)

// eventfd creates an eventfd. It is opened read-write, with
// EFD_NONBLOCK as the open file's O_NONBLOCK, which fcntl(F_SETFL) and
// FIONBIO change later, and EFD_CLOEXEC as the fd's FD_CLOEXEC.
func (t *Thread) eventfd(initval uint32, flags int) (uint64, error) {
	if flags&^(efdSemaphore|efdCloexec|efdNonblock) != 0 {
		return 0, unix.EINVAL
	}
	f := &eventFile{count: uint64(initval), semaphore: flags&efdSemaphore != 0}
	fd, err := t.proc.fds.installFlags(f, unix.O_RDWR|flags&(efdCloexec|efdNonblock))
	return uint64(fd), err
}

// eventFile is an eventfd. Reads take the count (or 1 in semaphore
// mode) and wait while it is 0; writes add to it and wait while the sum
// would pass eventfdMax. Read and Write never wait: they return
// errWouldBlock, and unless the open file is O_NONBLOCK (EAGAIN) the
// system call waits off the VCPU in ReadWait or WriteWait.
type eventFile struct {
	fileBase
	q         waitQueue
	semaphore bool

	mu    sync.Mutex
	count uint64
}

const eventfdValueSize = 8

func (f *eventFile) Read(_ *Thread, dst guestBuf) (int, error) {
	if dst.Len() < eventfdValueSize {
		return 0, unix.EINVAL
	}
	f.mu.Lock()
	if f.count == 0 {
		f.mu.Unlock()
		return 0, errWouldBlock
	}
	v := f.count
	if f.semaphore {
		v = 1
	}
	f.count -= v
	f.mu.Unlock()
	f.q.notify(epollOut)
	return fillUint64(dst, v)
}

// fillUint64 reads the 8-byte value v into dst, as eventfd and timerfd
// reads return their counts (the caller checked that dst holds 8 bytes).
func fillUint64(dst guestBuf, v uint64) (int, error) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	off := 0
	n, err := dst.fill(func(p []byte) (int, error) {
		k := copy(p, b[off:])
		off += k
		return k, nil
	})
	if err != nil {
		return 0, err
	}
	return min(n, len(b)), nil
}

func (f *eventFile) ReadWait(ctx context.Context, dst guestBuf) (int, error) {
	return f.q.waitFor(ctx, func() (int, error) { return f.Read(nil, dst) })
}

// writeValue reads the 8-byte value a write adds: EINVAL for a shorter
// buffer or the value 2^64-1.
func writeValue(src guestBuf) (uint64, error) {
	if src.Len() < eventfdValueSize {
		return 0, unix.EINVAL
	}
	var b [eventfdValueSize]byte
	off := 0
	if _, err := src.drain(func(p []byte) (int, error) {
		k := copy(b[off:], p)
		off += k
		return k, nil
	}); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(b[:])
	if v == ^uint64(0) {
		return 0, unix.EINVAL
	}
	return v, nil
}

func (f *eventFile) Write(_ *Thread, src guestBuf) (int, error) {
	v, err := writeValue(src)
	if err != nil {
		return 0, err
	}
	return f.add(v)
}

// WriteWait is a blocking write (writeWaiter): it waits until reads
// leave room for the value.
func (f *eventFile) WriteWait(ctx context.Context, src guestBuf) (int, error) {
	v, err := writeValue(src)
	if err != nil {
		return 0, err
	}
	return f.q.waitFor(ctx, func() (int, error) { return f.add(v) })
}

// add adds v to the count, or returns errWouldBlock if that would pass
// eventfdMax.
func (f *eventFile) add(v uint64) (int, error) {
	f.mu.Lock()
	if eventfdMax-f.count < v {
		f.mu.Unlock()
		return 0, errWouldBlock
	}
	f.count += v
	f.mu.Unlock()
	f.q.notify(epollIn)
	return eventfdValueSize, nil
}

func (f *eventFile) readiness() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ev uint32
	if f.count > 0 {
		ev |= epollIn
	}
	if f.count < eventfdMax {
		ev |= epollOut
	}
	return ev
}

func (f *eventFile) waitQueue() *waitQueue { return &f.q }

func (f *eventFile) Stat() (unix.Stat_t, error) {
	// An anonymous inode ("anon_inode:[eventfd]").
	return unix.Stat_t{Mode: 0o600, Nlink: 1, Blksize: pageSize}, nil
}
