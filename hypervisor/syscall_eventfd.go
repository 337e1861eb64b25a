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

func (t *Thread) eventfd(initval uint32, flags int) (uint64, error) {
	if flags&^(efdSemaphore|efdCloexec|efdNonblock) != 0 {
		return 0, unix.EINVAL
	}
	f := &eventFile{count: uint64(initval), semaphore: flags&efdSemaphore != 0, nonblock: flags&efdNonblock != 0}
	fd, err := t.proc.fds.install(f, flags&efdCloexec != 0)
	return uint64(fd), err
}

// eventFile is an eventfd. Reads take the count (or 1 in semaphore
// mode) and wait while it is 0; writes add to it.
//
// A write that would take the count past eventfdMax fails with EAGAIN
// even without EFD_NONBLOCK: blocking writes would need a File method
// the VMM does not have, and only a counter within 2^64 of overflowing
// gets there.
type eventFile struct {
	fileBase
	q         waitQueue
	semaphore bool
	// nonblock is EFD_NONBLOCK. (Once open file descriptions carry
	// O_NONBLOCK for fcntl, reads should use that instead.)
	nonblock bool

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
		if f.nonblock {
			return 0, unix.EAGAIN
		}
		return 0, errWouldBlock
	}
	v := f.count
	if f.semaphore {
		v = 1
	}
	f.count -= v
	f.mu.Unlock()
	f.q.notify()
	var b [eventfdValueSize]byte
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
	return min(n, eventfdValueSize), nil
}

// eventWaker wakes a reader waiting on an eventfd.
type eventWaker chan struct{}

func (w eventWaker) notify() {
	select {
	case w <- struct{}{}:
	default:
	}
}

func (f *eventFile) ReadWait(ctx context.Context, dst guestBuf) (int, error) {
	w := make(eventWaker, 1)
	f.q.add(w)
	defer f.q.remove(w)
	for {
		n, err := f.Read(nil, dst)
		if err != errWouldBlock {
			return n, err
		}
		select {
		case <-w:
		case <-ctx.Done():
			return 0, unix.EINTR
		}
	}
}

func (f *eventFile) Write(_ *Thread, src guestBuf) (int, error) {
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
	f.mu.Lock()
	if eventfdMax-f.count < v {
		f.mu.Unlock()
		return 0, unix.EAGAIN
	}
	f.count += v
	f.mu.Unlock()
	f.q.notify()
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
