package hypervisor

import (
	"context"
	"errors"

	"github.com/vpmu/vpmu/internal/unix"
)

// File-descriptor system calls: read/write and friends, open, close,
// stat, lseek, ioctl, readlink, access, getcwd, fcntl. The host file
// system is visible read-only, except under Config.RWDirs.

func init() {
	registerSyscall(sysRead, sysReadFn)
	registerSyscall(sysWrite, sysWriteFn)
	registerSyscall(sysPread64, sysPread64Fn)
	registerSyscall(sysReadv, sysReadvFn)
	registerSyscall(sysWritev, sysWritevFn)
	registerSyscall(sysOpen, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.openat(unix.AT_FDCWD, a[0], a.Int(1), a.Uint32(2))
	})
	registerSyscall(sysOpenat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.openat(a.Int(0), a[1], a.Int(2), a.Uint32(3))
	})
	registerSyscall(sysClose, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.proc.fds.close(a.Int(0))
	})
	registerSyscall(sysFstat, sysFstatFn)
	registerSyscall(sysNewfstatat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fstatat(a.Int(0), a[1], a[2], a.Int(3))
	})
	registerSyscall(sysStat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fstatat(unix.AT_FDCWD, a[0], a[1], 0)
	})
	registerSyscall(sysLstat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fstatat(unix.AT_FDCWD, a[0], a[1], unix.AT_SYMLINK_NOFOLLOW)
	})
	registerSyscall(sysLseek, sysLseekFn)
	registerSyscall(sysIoctl, sysIoctlFn)
	registerSyscall(sysReadlink, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.readlinkat(unix.AT_FDCWD, a[0], a[1], a[2])
	})
	registerSyscall(sysReadlinkat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.readlinkat(a.Int(0), a[1], a[2], a[3])
	})
	registerSyscall(sysAccess, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.faccessat(unix.AT_FDCWD, a[0], a.Int(1))
	})
	registerSyscall(sysFaccessat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.faccessat(a.Int(0), a[1], a.Int(2))
	})
	registerSyscall(sysFaccessat2, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.faccessat(a.Int(0), a[1], a.Int(2))
	})
	registerSyscall(sysGetcwd, sysGetcwdFn)
	registerSyscall(sysFcntl, sysFcntlFn)
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

func sysReadFn(t *Thread, a SyscallArgs) (uint64, error) {
	of, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	buf := guestBuf{mm: t.proc.mm, addr: a[1], n: min(a[2], maxRWCount)}
	n, err := of.Read(t, buf)
	if errors.Is(err, errWouldBlock) {
		return t.block(func(ctx context.Context) (uint64, error) {
			defer t.proc.fds.put(of)
			n, err := of.ReadWait(ctx, buf)
			return uint64(n), err
		})
	}
	t.proc.fds.put(of)
	return uint64(n), err
}

func sysWriteFn(t *Thread, a SyscallArgs) (uint64, error) {
	return t.fileOp(a.Int(0), func(f File) (uint64, error) {
		n, err := f.Write(t, guestBuf{mm: t.proc.mm, addr: a[1], n: min(a[2], maxRWCount)})
		return uint64(n), err
	})
}

func sysPread64Fn(t *Thread, a SyscallArgs) (uint64, error) {
	return t.fileOp(a.Int(0), func(f File) (uint64, error) {
		n, err := f.Pread(t, guestBuf{mm: t.proc.mm, addr: a[1], n: min(a[2], maxRWCount)}, a.Int64(3))
		return uint64(n), err
	})
}

func sysReadvFn(t *Thread, a SyscallArgs) (uint64, error) {
	iovs, err := t.readIovecs(a[1], a.Int(2))
	if err != nil {
		return 0, err
	}
	return t.fileOp(a.Int(0), func(f File) (uint64, error) {
		var total uint64
		for _, iov := range iovs {
			n, err := f.Read(t, guestBuf{mm: t.proc.mm, addr: iov.base, n: iov.len})
			if err != nil {
				if total > 0 && !errors.Is(err, errWouldBlock) {
					return total, nil
				}
				if errors.Is(err, errWouldBlock) {
					// Blocking vectored reads come with the file-system
					// family; report what was read, or EAGAIN.
					if total > 0 {
						return total, nil
					}
					return 0, unix.EAGAIN
				}
				return 0, err
			}
			total += uint64(n)
			if uint64(n) < iov.len {
				break
			}
		}
		return total, nil
	})
}

func sysWritevFn(t *Thread, a SyscallArgs) (uint64, error) {
	iovs, err := t.readIovecs(a[1], a.Int(2))
	if err != nil {
		return 0, err
	}
	return t.fileOp(a.Int(0), func(f File) (uint64, error) {
		var total uint64
		for _, iov := range iovs {
			n, err := f.Write(t, guestBuf{mm: t.proc.mm, addr: iov.base, n: iov.len})
			if err != nil {
				if total > 0 {
					return total, nil
				}
				return 0, err
			}
			total += uint64(n)
			if uint64(n) < iov.len {
				break
			}
		}
		return total, nil
	})
}

func sysFstatFn(t *Thread, a SyscallArgs) (uint64, error) {
	return t.fileOp(a.Int(0), func(f File) (uint64, error) {
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return 0, t.proc.mm.CopyOut(a[1], encodeStat(&st))
	})
}

func sysLseekFn(t *Thread, a SyscallArgs) (uint64, error) {
	return t.fileOp(a.Int(0), func(f File) (uint64, error) {
		off, err := f.Seek(a.Int64(1), a.Int(2))
		return uint64(off), err
	})
}

func sysIoctlFn(t *Thread, a SyscallArgs) (uint64, error) {
	return t.fileOp(a.Int(0), func(f File) (uint64, error) { return f.Ioctl(t, a.Uint64(1), a[2]) })
}

func sysGetcwdFn(t *Thread, a SyscallArgs) (uint64, error) {
	t.proc.mu.Lock()
	cwd := t.proc.cwd
	t.proc.mu.Unlock()
	b := append([]byte(cwd), 0)
	if uint64(len(b)) > a[1] {
		return 0, unix.ERANGE
	}
	return uint64(len(b)), t.proc.mm.CopyOut(a[0], b)
}

// fcntl commands handled here; the rest belong to the file-system family.
const (
	fDupfd        = 0
	fGetfd        = 1
	fSetfd        = 2
	fGetfl        = 3
	fSetfl        = 4
	fDupfdCloexec = 1030
	fdCloexec     = 1
)

func sysFcntlFn(t *Thread, a SyscallArgs) (uint64, error) {
	fds := t.proc.fds
	fd := a.Int(0)
	switch a.Int(1) {
	case fGetfd:
		fds.mu.Lock()
		defer fds.mu.Unlock()
		e, ok := fds.fds[fd]
		if !ok {
			return 0, unix.EBADF
		}
		if e.cloexec {
			return fdCloexec, nil
		}
		return 0, nil
	case fSetfd:
		fds.mu.Lock()
		defer fds.mu.Unlock()
		e, ok := fds.fds[fd]
		if !ok {
			return 0, unix.EBADF
		}
		e.cloexec = a[2]&fdCloexec != 0
		fds.fds[fd] = e
		return 0, nil
	case fGetfl:
		return t.fileOp(fd, func(f File) (uint64, error) {
			switch f := f.(type) {
			case *hostFile:
				if f.writable {
					return unix.O_RDWR, nil
				}
				return unix.O_RDONLY, nil
			case *writerFile:
				return unix.O_WRONLY, nil
			default:
				return unix.O_RDONLY, nil
			}
		})
	case fSetfl:
		return t.fileOp(fd, func(File) (uint64, error) { return 0, nil })
	case fDupfd, fDupfdCloexec:
		of, err := fds.get(fd)
		if err != nil {
			return 0, err
		}
		return fds.dupFrom(of, a.Int(2), a.Int(1) == fDupfdCloexec)
	default:
		t.proc.vm.reportUnimplemented(sysFcntl)
		return 0, unix.EINVAL
	}
}
