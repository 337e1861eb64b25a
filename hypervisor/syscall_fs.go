package hypervisor

import (
	"context"
	"errors"

	"github.com/vpmu/vpmu/internal/unix"
)

// File-descriptor I/O: read, write, pread64, pwrite64, readv, writev,
// preadv, pwritev, preadv2, pwritev2, close, fstat, lseek, ioctl.
// Reads that must wait leave the VCPU: pipes park the thread on the pipe
// (fd_pipe.go), other files wait in File.ReadWait on a goroutine
// (Thread.block).

func init() {
	registerSyscall(sysRead, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.readv(a.Int(0), []guestBuf{t.buf(a[1], a[2])})
	})
	registerSyscall(sysWrite, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.writev(a.Int(0), []guestBuf{t.buf(a[1], a[2])})
	})
	registerSyscall(sysReadv, func(t *Thread, a SyscallArgs) (uint64, error) {
		bufs, err := t.iovecBufs(a[1], a.Int(2))
		if err != nil {
			return 0, err
		}
		return t.readv(a.Int(0), bufs)
	})
	registerSyscall(sysWritev, func(t *Thread, a SyscallArgs) (uint64, error) {
		bufs, err := t.iovecBufs(a[1], a.Int(2))
		if err != nil {
			return 0, err
		}
		return t.writev(a.Int(0), bufs)
	})
	registerSyscall(sysPread64, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.preadv(a.Int(0), []guestBuf{t.buf(a[1], a[2])}, a.Int64(3))
	})
	registerSyscall(sysPwrite64, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.pwritev(a.Int(0), []guestBuf{t.buf(a[1], a[2])}, a.Int64(3))
	})
	registerSyscall(sysPreadv, func(t *Thread, a SyscallArgs) (uint64, error) { return t.vectoredAt(a, false, false) })
	registerSyscall(sysPwritev, func(t *Thread, a SyscallArgs) (uint64, error) { return t.vectoredAt(a, true, false) })
	registerSyscall(sysPreadv2, func(t *Thread, a SyscallArgs) (uint64, error) { return t.vectoredAt(a, false, true) })
	registerSyscall(sysPwritev2, func(t *Thread, a SyscallArgs) (uint64, error) { return t.vectoredAt(a, true, true) })
	registerSyscall(sysOpen, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.openat(unix.AT_FDCWD, a[0], a.Int(1), a.Uint32(2))
	})
	registerSyscall(sysOpenat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.openat(a.Int(0), a[1], a.Int(2), a.Uint32(3))
	})
	registerSyscall(sysCreat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.openat(unix.AT_FDCWD, a[0], unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, a.Uint32(1))
	})
	registerSyscall(sysClose, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.proc.fds.close(a.Int(0))
	})
	registerSyscall(sysFstat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fileOp(a.Int(0), func(f File) (uint64, error) {
			st, err := f.Stat()
			if err != nil {
				return 0, err
			}
			return 0, t.proc.mm.CopyOut(a[1], encodeStat(&st))
		})
	})
	registerSyscall(sysLseek, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fileOp(a.Int(0), func(f File) (uint64, error) {
			off, err := f.Seek(a.Int64(1), a.Int(2))
			return uint64(off), err
		})
	})
	registerSyscall(sysIoctl, sysIoctlFn)
}

// fileOp runs f on fd's file, holding a reference meanwhile.
func (t *Thread) fileOp(fd int, f func(File) (uint64, error)) (uint64, error) {
	of, err := t.proc.fds.get(fd)
	if err != nil {
		return 0, err
	}
	defer t.proc.fds.put(of)
	return f(of.File)
}

// buf is the guest buffer [addr, addr+n), n capped at MAX_RW_COUNT.
func (t *Thread) buf(addr, n uint64) guestBuf {
	return guestBuf{mm: t.proc.mm, addr: addr, n: min(n, maxRWCount)}
}

// iovecBufs reads an iovec array as guest buffers, the total capped at
// MAX_RW_COUNT as Linux does.
func (t *Thread) iovecBufs(addr uint64, count int) ([]guestBuf, error) {
	iovs, err := t.readIovecs(addr, count)
	if err != nil {
		return nil, err
	}
	bufs := make([]guestBuf, 0, len(iovs))
	var total uint64
	for _, iov := range iovs {
		n := min(iov.len, maxRWCount-total)
		bufs = append(bufs, guestBuf{mm: t.proc.mm, addr: iov.base, n: n})
		total += n
	}
	return bufs, nil
}

// readv reads fd into bufs in order. A read that would wait parks the
// thread; the first buffer that comes back short ends the call.
func (t *Thread) readv(fd int, bufs []guestBuf) (uint64, error) {
	of, err := t.proc.fds.get(fd)
	if err != nil {
		return 0, err
	}
	if p, ok := of.File.(*pipeEnd); ok {
		return p.rw(t, bufs, false, of.nonblock(), of)
	}
	var total uint64
	for i, b := range bufs {
		n, err := of.Read(t, b)
		switch {
		case errors.Is(err, errWouldBlock) && total == 0 && !of.nonblock():
			// Wait for data off the VCPU, into this buffer.
			rest := bufs[i]
			return t.block(func(ctx context.Context) (uint64, error) {
				defer t.proc.fds.put(of)
				if tw, ok := of.File.(threadReadWaiter); ok {
					n, err := tw.readWaitAs(ctx, t, rest)
					return uint64(n), err
				}
				n, err := of.ReadWait(ctx, rest)
				return uint64(n), err
			})
		case errors.Is(err, errWouldBlock):
			err = unix.EAGAIN
		}
		if err != nil {
			t.proc.fds.put(of)
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		total += uint64(n)
		if uint64(n) < b.n {
			break
		}
	}
	t.proc.fds.put(of)
	return total, nil
}

// writev writes bufs to fd in order. A write that must wait (see
// writeWaiter) waits off the VCPU.
func (t *Thread) writev(fd int, bufs []guestBuf) (uint64, error) {
	of, err := t.proc.fds.get(fd)
	if err != nil {
		return 0, err
	}
	if p, ok := of.File.(*pipeEnd); ok {
		return p.rw(t, bufs, true, of.nonblock(), of)
	}
	var total uint64
	for i, b := range bufs {
		n, err := of.Write(t, b)
		if errors.Is(err, errWouldBlock) {
			if ww, ok := of.File.(writeWaiter); ok && total == 0 && !of.nonblock() {
				// Wait off the VCPU until the write can go on.
				rest := bufs[i]
				return t.block(func(ctx context.Context) (uint64, error) {
					defer t.proc.fds.put(of)
					n, err := ww.WriteWait(ctx, rest)
					return uint64(n), err
				})
			}
			err = unix.EAGAIN
		}
		if err != nil {
			t.proc.fds.put(of)
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		total += uint64(n)
		if uint64(n) < b.n {
			break
		}
	}
	t.proc.fds.put(of)
	return total, nil
}

// preadv reads fd at off into bufs without moving the file offset.
func (t *Thread) preadv(fd int, bufs []guestBuf, off int64) (uint64, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	return t.fileOp(fd, func(f File) (uint64, error) {
		var total uint64
		for _, b := range bufs {
			n, err := f.Pread(t, b, off+int64(total))
			if err != nil {
				if total > 0 {
					return total, nil
				}
				return 0, err
			}
			total += uint64(n)
			if uint64(n) < b.n {
				break
			}
		}
		return total, nil
	})
}

// pwritev writes bufs to fd at off without moving the file offset.
func (t *Thread) pwritev(fd int, bufs []guestBuf, off int64) (uint64, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	return t.fileOp(fd, func(f File) (uint64, error) {
		var total uint64
		for _, b := range bufs {
			n, err := f.Pwrite(t, b, off+int64(total))
			if err != nil {
				if total > 0 {
					return total, nil
				}
				return 0, err
			}
			total += uint64(n)
			if uint64(n) < b.n {
				break
			}
		}
		return total, nil
	})
}

// RWF_* flags of preadv2/pwritev2 that are accepted (and need nothing
// here: HIPRI, DSYNC, SYNC, NOWAIT, APPEND are hints or are covered by
// the host file's own flags).
const rwfSupported = 0x1f

// vectoredAt is preadv/pwritev (fd, iov, iovcnt, pos_l, pos_h) and their
// "2" versions (+flags), where an offset of -1 means the file offset.
func (t *Thread) vectoredAt(a SyscallArgs, write, v2 bool) (uint64, error) {
	if v2 && a[5]&^rwfSupported != 0 {
		return 0, unix.EOPNOTSUPP
	}
	bufs, err := t.iovecBufs(a[1], a.Int(2))
	if err != nil {
		return 0, err
	}
	off := a.Int64(3)
	switch {
	case v2 && off == -1 && write:
		return t.writev(a.Int(0), bufs)
	case v2 && off == -1:
		return t.readv(a.Int(0), bufs)
	case write:
		return t.pwritev(a.Int(0), bufs, off)
	default:
		return t.preadv(a.Int(0), bufs, off)
	}
}

// ioctl requests handled for every file; the rest go to File.Ioctl.
const (
	tcgets     = 0x5401
	tiocgwinsz = 0x5413
	fionread   = 0x541b
	fionbio    = 0x5421
	fionclex   = 0x5450
	fioclex    = 0x5451
)

func sysIoctlFn(t *Thread, a SyscallArgs) (uint64, error) {
	fd := a.Int(0)
	of, err := t.proc.fds.get(fd)
	if err != nil {
		return 0, err
	}
	defer t.proc.fds.put(of)
	switch a.Uint32(1) {
	case fioclex:
		return 0, t.proc.fds.setCloexec(fd, true)
	case fionclex:
		return 0, t.proc.fds.setCloexec(fd, false)
	case fionbio:
		on, err := t.proc.mm.ReadUint32(a[2])
		if err != nil {
			return 0, err
		}
		for {
			old := of.flags.Load()
			nw := old &^ unix.O_NONBLOCK
			if on != 0 {
				nw |= unix.O_NONBLOCK
			}
			if of.flags.CompareAndSwap(old, nw) {
				return 0, nil
			}
		}
	}
	// TCGETS, TIOCGWINSZ and everything else: the files' own answer,
	// ENOTTY unless they know better (no file is a terminal).
	return of.Ioctl(t, uint64(a.Uint32(1)), a[2])
}
