package hypervisor

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// Calls on file descriptors as such: dup, dup2, dup3, close_range,
// fcntl, flock, pipe, pipe2, fsync, fdatasync, sync, syncfs, fadvise64,
// readahead, sendfile, copy_file_range.

func init() {
	registerSyscall(sysDup, func(t *Thread, a SyscallArgs) (uint64, error) {
		of, err := t.proc.fds.get(a.Int(0))
		if err != nil {
			return 0, err
		}
		return t.proc.fds.dupFrom(of, 0, false)
	})
	registerSyscall(sysDup2, func(t *Thread, a SyscallArgs) (uint64, error) {
		of, err := t.proc.fds.get(a.Int(0))
		if err != nil {
			return 0, err
		}
		if a.Int(0) == a.Int(1) {
			of.decRef()
			return uint64(a.Int(1)), nil
		}
		return t.proc.fds.dupTo(of, a.Int(1), false)
	})
	registerSyscall(sysDup3, func(t *Thread, a SyscallArgs) (uint64, error) {
		if a.Int(2)&^unix.O_CLOEXEC != 0 || a.Int(0) == a.Int(1) {
			return 0, unix.EINVAL
		}
		of, err := t.proc.fds.get(a.Int(0))
		if err != nil {
			return 0, err
		}
		return t.proc.fds.dupTo(of, a.Int(1), a.Int(2)&unix.O_CLOEXEC != 0)
	})
	registerSyscall(sysCloseRange, func(t *Thread, a SyscallArgs) (uint64, error) {
		const unshare, cloexec = 2, 4
		first, last := a.Uint32(0), a.Uint32(1)
		if a.Uint32(2)&^(unshare|cloexec) != 0 || first > last {
			return 0, unix.EINVAL
		}
		t.proc.fds.closeRange(int(first), int(min(last, maxFDs)), a.Uint32(2)&cloexec != 0)
		return 0, nil
	})
	registerSyscall(sysFcntl, sysFcntlFn)
	registerSyscall(sysFlock, sysFlockFn)
	registerSyscall(sysPipe, func(t *Thread, a SyscallArgs) (uint64, error) { return t.pipe2(a[0], 0) })
	registerSyscall(sysPipe2, func(t *Thread, a SyscallArgs) (uint64, error) { return t.pipe2(a[0], a.Int(1)) })
	registerSyscall(sysFsync, func(t *Thread, a SyscallArgs) (uint64, error) { return t.syncFD(a.Int(0), unix.Fsync) })
	registerSyscall(sysFdatasync, func(t *Thread, a SyscallArgs) (uint64, error) { return t.syncFD(a.Int(0), unix.Fdatasync) })
	// sync and syncfs: what the guest wrote is in the host's page cache
	// like any host process's writes; flushing the host's disks is not
	// the guest's business.
	registerSyscall(sysSync, func(*Thread, SyscallArgs) (uint64, error) { return 0, nil })
	registerSyscall(sysSyncfs, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fileOp(a.Int(0), func(File) (uint64, error) { return 0, nil })
	})
	registerSyscall(sysFadvise64, func(t *Thread, a SyscallArgs) (uint64, error) {
		if a.Int(3) < 0 || a.Int(3) > 5 || a.Int64(2) < 0 {
			return 0, unix.EINVAL
		}
		return t.fileOp(a.Int(0), func(f File) (uint64, error) {
			if _, ok := f.(*pipeEnd); ok {
				return 0, unix.ESPIPE
			}
			return 0, nil // advice only
		})
	})
	registerSyscall(sysReadahead, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fileOp(a.Int(0), func(f File) (uint64, error) {
			if hf, ok := f.(*hostFile); !ok || hf.mode&unix.S_IFMT != unix.S_IFREG {
				return 0, unix.EINVAL
			}
			return 0, nil
		})
	})
	registerSyscall(sysSendfile, sysSendfileFn)
	registerSyscall(sysCopyFileRange, sysCopyFileRangeFn)
}

// fcntl commands (include/uapi/asm-generic/fcntl.h, linux/fcntl.h).
const (
	fDupfd        = 0
	fGetfd        = 1
	fSetfd        = 2
	fGetfl        = 3
	fSetfl        = 4
	fGetlk        = 5
	fSetlk        = 6
	fSetlkw       = 7
	fSetown       = 8
	fGetown       = 9
	fSetsig       = 10
	fGetsig       = 11
	fOFDGetlk     = 36
	fOFDSetlk     = 37
	fOFDSetlkw    = 38
	fGetlease     = 1025
	fDupfdCloexec = 1030
	fSetpipeSz    = 1031
	fGetpipeSz    = 1032
	fdCloexec     = 1
	fUnlck        = 2
	flockSize     = 32 // struct flock
)

// setflMask are the status flags F_SETFL may change.
const setflMask = unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT | unix.O_NOATIME | 0x2000 /* O_ASYNC */

func sysFcntlFn(t *Thread, a SyscallArgs) (uint64, error) {
	fds := t.proc.fds
	fd, cmd := a.Int(0), a.Int(1)
	of, err := fds.get(fd)
	if err != nil {
		return 0, err
	}
	defer fds.put(of)
	switch cmd {
	case fDupfd, fDupfdCloexec:
		of.refs.Add(1)
		return fds.dupFrom(of, a.Int(2), cmd == fDupfdCloexec)
	case fGetfd:
		on, err := fds.cloexec(fd)
		if on {
			return fdCloexec, err
		}
		return 0, err
	case fSetfd:
		return 0, fds.setCloexec(fd, a[2]&fdCloexec != 0)
	case fGetfl:
		return uint64(of.flags.Load()), nil
	case fSetfl:
		nw := int32(a.Int(2)) & setflMask
		if hf, ok := of.File.(*hostFile); ok && !hf.opath {
			// The host fd carries O_APPEND (and the I/O hints) itself.
			if _, err := unix.FcntlInt(uintptr(hf.fd), unix.F_SETFL, int(nw&^unix.O_NONBLOCK)); err != nil {
				return 0, err
			}
		}
		for {
			old := of.flags.Load()
			if of.flags.CompareAndSwap(old, old&^setflMask|nw) {
				return 0, nil
			}
		}
	case fGetlk, fSetlk, fSetlkw, fOFDGetlk, fOFDSetlk, fOFDSetlkw:
		return t.fcntlLock(of, cmd, a[2])
	case fSetown, fSetsig:
		return 0, nil
	case fGetown, fGetsig:
		return 0, nil
	case fGetlease:
		return fUnlck, nil
	case fGetpipeSz, fSetpipeSz:
		var n int
		var err error
		switch f := of.File.(type) {
		case *pipeEnd:
			if cmd == fGetpipeSz {
				return uint64(f.p.size()), nil
			}
			n, err = f.p.resize(a.Uint32(2))
		case *stdinFile:
			if cmd == fGetpipeSz {
				return uint64(f.size.get()), nil
			}
			n, err = f.resize(a.Uint32(2))
		case *writerFile:
			if cmd == fGetpipeSz {
				return uint64(f.size.get()), nil
			}
			n, err = f.size.set(a.Uint32(2), 0)
		default:
			return 0, unix.EBADF
		}
		return uint64(n), err
	default:
		t.proc.vm.reportUnimplemented(sysFcntl)
		return 0, unix.EINVAL
	}
}

// lockRetry is how often a blocking lock held by another host process is
// tried again.
const lockRetry = 10 * time.Millisecond

// fcntlLock implements record locks: on host files they are the host's
// locks (so they work against other host processes); waits happen off
// the VCPU, trying again until the lock is free. Other files (pipes, the
// standard streams) cannot conflict with anyone: every lock succeeds.
func (t *Thread) fcntlLock(of *openFile, cmd int, addr uint64) (uint64, error) {
	var b [flockSize]byte
	if err := t.proc.mm.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	le := binary.LittleEndian
	lk := unix.Flock_t{Type: int16(le.Uint16(b[0:])), Whence: int16(le.Uint16(b[2:])),
		Start: int64(le.Uint64(b[8:])), Len: int64(le.Uint64(b[16:])), Pid: int32(le.Uint32(b[24:]))}
	hf, ok := of.File.(*hostFile)
	if !ok {
		if cmd == fGetlk || cmd == fOFDGetlk {
			le.PutUint16(b[0:], fUnlck)
			return 0, t.proc.mm.CopyOut(addr, b[:])
		}
		return 0, nil
	}
	hostCmd := map[int]int{fGetlk: unix.F_GETLK, fSetlk: unix.F_SETLK, fSetlkw: unix.F_SETLK,
		fOFDGetlk: unix.F_OFD_GETLK, fOFDSetlk: unix.F_OFD_SETLK, fOFDSetlkw: unix.F_OFD_SETLK}[cmd]
	err := unix.FcntlFlock(uintptr(hf.fd), hostCmd, &lk)
	if (cmd == fSetlkw || cmd == fOFDSetlkw) && (err == unix.EAGAIN || err == unix.EACCES) {
		of.refs.Add(1)
		return t.block(func(ctx context.Context) (uint64, error) {
			defer of.decRef()
			for {
				select {
				case <-ctx.Done():
					return 0, unix.EINTR
				case <-time.After(lockRetry):
				}
				l := lk
				err := unix.FcntlFlock(uintptr(hf.fd), hostCmd, &l)
				if err != unix.EAGAIN && err != unix.EACCES {
					return 0, err
				}
			}
		})
	}
	if err != nil {
		return 0, err
	}
	if cmd == fGetlk || cmd == fOFDGetlk {
		le.PutUint16(b[0:], uint16(lk.Type))
		le.PutUint16(b[2:], uint16(lk.Whence))
		le.PutUint64(b[8:], uint64(lk.Start))
		le.PutUint64(b[16:], uint64(lk.Len))
		le.PutUint32(b[24:], uint32(lk.Pid))
		return 0, t.proc.mm.CopyOut(addr, b[:])
	}
	return 0, nil
}

// flock(2) operations.
const (
	lockSh = 1
	lockEx = 2
	lockNb = 4
	lockUn = 8
)

func sysFlockFn(t *Thread, a SyscallArgs) (uint64, error) {
	op := a.Int(1)
	switch op &^ lockNb {
	case lockSh, lockEx, lockUn:
	default:
		return 0, unix.EINVAL
	}
	of, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	hf, ok := of.File.(*hostFile)
	if !ok {
		of.decRef()
		return 0, nil
	}
	err = unix.Flock(hf.fd, op|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK && op&lockNb == 0 {
		return t.block(func(ctx context.Context) (uint64, error) {
			defer of.decRef()
			for {
				select {
				case <-ctx.Done():
					return 0, unix.EINTR
				case <-time.After(lockRetry):
				}
				if err := unix.Flock(hf.fd, op|unix.LOCK_NB); err != unix.EWOULDBLOCK {
					return 0, err
				}
			}
		})
	}
	of.decRef()
	return 0, err
}

func (t *Thread) pipe2(addr uint64, flags int) (uint64, error) {
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return 0, unix.EINVAL
	}
	r, w := newPipe()
	fl := flags &^ unix.O_DIRECT
	rfd, err := t.proc.fds.installFlags(r, fl|unix.O_RDONLY)
	if err != nil {
		w.Close()
		return 0, err
	}
	wfd, err := t.proc.fds.installFlags(w, fl|unix.O_WRONLY)
	if err != nil {
		t.proc.fds.close(rfd)
		return 0, err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(rfd))
	binary.LittleEndian.PutUint32(b[4:], uint32(wfd))
	if err := t.proc.mm.CopyOut(addr, b[:]); err != nil {
		t.proc.fds.close(rfd)
		t.proc.fds.close(wfd)
		return 0, err
	}
	return 0, nil
}

// syncFD flushes a host file; pipes and the standard streams have
// nothing to flush (EINVAL, as Linux for a pipe).
func (t *Thread) syncFD(fd int, sync func(int) error) (uint64, error) {
	return t.fileOp(fd, func(f File) (uint64, error) {
		switch f := f.(type) {
		case *hostFile:
			if f.opath {
				return 0, unix.EBADF
			}
			return 0, sync(f.fd)
		case *pipeEnd, *writerFile, *stdinFile:
			return 0, unix.EINVAL
		}
		return 0, nil
	})
}
