package hypervisor

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// signalfd and signalfd4 (fs/signalfd.c): a file that reads the
// signals of a mask as struct signalfd_siginfo, dequeuing them as
// delivery would (the reading thread's queue, then the process's), so
// that a program that blocks them can take them from a read, poll or
// epoll loop. The encoding is in signal_signalfd.go.
//
// As in Linux, the file reads the signals of whichever thread reads it,
// and poll, select and epoll_wait see it readable when a signal of its
// mask is pending for the polling thread or the process
// (threadPollable). Where no thread polls (an epoll instance polled in
// turn, epoll_ctl's first look), it is readable when such a signal is
// pending for any thread; epoll_wait then looks again as its thread.

func init() {
	registerSyscall(sysSignalfd, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.signalfd(a.Int(0), a[1], a[2], 0)
	})
	registerSyscall(sysSignalfd4, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.signalfd(a.Int(0), a[1], a[2], a.Int(3))
	})
}

// signalfd creates a signalfd for the signals of the mask at maskAddr
// (fd -1), or replaces the mask of the signalfd fd. Errors, in the
// kernel's order: EINVAL for a sizemask other than 8, EFAULT for the
// mask, EINVAL for unknown flags, EBADF for an fd that is not open,
// EINVAL for one that is not a signalfd; EMFILE.
func (t *Thread) signalfd(fd int, maskAddr, sizemask uint64, flags int) (uint64, error) {
	if sizemask != sigsetSize {
		return 0, unix.EINVAL
	}
	mask, err := t.readSigset(maskAddr, sizemask)
	if err != nil {
		return 0, err
	}
	if mask, err = signalfdArgs(mask, sizemask, flags); err != nil {
		return 0, err
	}
	p := t.proc
	if fd == -1 {
		f := &signalFile{p: p}
		f.mask.Store(uint64(mask))
		p.sig.signalfds.add(f)
		nfd, err := p.fds.installFlags(f, unix.O_RDWR|flags)
		return uint64(nfd), err
	}
	of, err := p.fds.get(fd)
	if err != nil {
		return 0, err
	}
	defer p.fds.put(of)
	f, ok := of.File.(*signalFile)
	if !ok {
		return 0, unix.EINVAL
	}
	f.mask.Store(uint64(mask))
	// Signals of the new mask may be pending already.
	p.sig.signalfds.wake()
	return uint64(fd), nil
}

// signalfdSet is the open signalfds of a process. Safe for concurrent
// use; its lock is a leaf, never held with sig.mu.
type signalfdSet struct {
	mu sync.Mutex
	m  map[*signalFile]struct{}
}

func (s *signalfdSet) add(f *signalFile) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[*signalFile]struct{}{}
	}
	s.m[f] = struct{}{}
	s.mu.Unlock()
}

func (s *signalfdSet) remove(f *signalFile) {
	s.mu.Lock()
	delete(s.m, f)
	s.mu.Unlock()
}

// wake notifies the waiters of every signalfd of the process, after a
// signal was queued or a mask changed, as Linux wakes the process's one
// signalfd wait queue (signalfd_notify): whatever the signal, so that an
// edge-triggered epoll item of a signalfd that is still readable sees
// an event, as there. Called without sig.mu, since the waiters read the
// pending sets back.
func (s *signalfdSet) wake() {
	s.mu.Lock()
	if len(s.m) == 0 {
		s.mu.Unlock()
		return
	}
	fs := make([]*signalFile, 0, len(s.m))
	for f := range s.m {
		fs = append(fs, f)
	}
	s.mu.Unlock()
	for _, f := range fs {
		f.q.notify(epollIn | epollRdnorm)
	}
}

// signalFile is a signalfd. Its mask may change (signalfd4 on it) while
// threads read it.
type signalFile struct {
	fileBase
	p    *Process
	q    waitQueue
	mask atomic.Uint64 // a sigset without SIGKILL and SIGSTOP
}

func (f *signalFile) sigmask() sigset { return sigset(f.mask.Load()) }

// Read dequeues as many signals of the mask as whole struct
// signalfd_siginfo fit in dst, from t's queue and the process's
// (EINVAL if not one fits), and returns errWouldBlock when none is
// pending. Only guest memory can take them: sendfile and splice from a
// signalfd are EINVAL, as in Linux, which has no splice_read for it.
func (f *signalFile) Read(t *Thread, dst guestBuf) (int, error) {
	if t == nil || dst.host != nil || dst.Len() < signalfdInfoSize {
		return 0, unix.EINVAL
	}
	total := 0
	for dst.Len()-total >= signalfdInfoSize {
		info, ok := t.dequeueSignal(f.sigmask())
		if !ok {
			break
		}
		n, err := fillBytes(dst.advance(uint64(total)), encodeSignalfdInfo(info.encode()))
		if err != nil {
			// The signal is gone, as in Linux when copy_to_user fails.
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		total += n
	}
	if total == 0 {
		return 0, errWouldBlock
	}
	return total, nil
}

// readWaitAs is the blocking read: it waits until a signal of the mask
// is pending for t or the process (EINTR when ctx is done: another
// signal, which the read's restart rules then handle, or the exit).
func (f *signalFile) readWaitAs(ctx context.Context, t *Thread, dst guestBuf) (int, error) {
	return f.q.waitFor(ctx, func() (int, error) { return f.Read(t, dst) })
}

// fillBytes copies b into the start of dst (which holds at least
// len(b) bytes) and returns how much it copied.
func fillBytes(dst guestBuf, b []byte) (int, error) {
	off := 0
	_, err := dst.fill(func(p []byte) (int, error) {
		k := copy(p, b[off:])
		off += k
		return k, nil
	})
	return off, err
}

// readinessFor is EPOLLIN when a signal of the mask is pending for t or
// the process, as signalfd_poll sees it for the polling thread (poll,
// select, epoll_wait). It takes no signal lock: pollers call it under
// their own, so it reads the atomic copies of the pending sets.
func (f *signalFile) readinessFor(t *Thread) uint32 {
	if (f.p.sig.shared.pendingSet()|t.sig.pending.pendingSet())&f.sigmask() != 0 {
		return epollIn | epollRdnorm
	}
	return 0
}

// readiness is the readiness for any thread (threadPollable): EPOLLIN
// when a signal of the mask is pending for the process or any of its
// threads.
func (f *signalFile) readiness() uint32 {
	mask := f.sigmask()
	pend := f.p.sig.shared.pendingSet()
	if pend&mask == 0 {
		for _, t := range f.p.liveThreads() {
			pend |= t.sig.pending.pendingSet()
		}
	}
	if pend&mask != 0 {
		return epollIn | epollRdnorm
	}
	return 0
}

func (f *signalFile) waitQueue() *waitQueue { return &f.q }

// Seek does nothing and returns 0, as Linux's noop_llseek.
func (f *signalFile) Seek(int64, int) (int64, error) { return 0, nil }

func (f *signalFile) Close() error {
	f.p.sig.signalfds.remove(f)
	f.q.notify(notifyAll)
	return nil
}

func (f *signalFile) Stat() (unix.Stat_t, error) {
	// An anonymous inode ("anon_inode:[signalfd]").
	return unix.Stat_t{Mode: 0o600, Nlink: 1, Blksize: pageSize}, nil
}

func (f *signalFile) fdPath() string { return "anon_inode:[signalfd]" }
