package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// Changing a file's attributes: chmod, fchmod, fchmodat, chown, fchown,
// lchown, fchownat, utimensat, truncate, ftruncate, fallocate; and
// umask, statfs, fstatfs. Changes are allowed beneath granted
// directories only, and act on an O_PATH fd opened confined beneath the
// grant (through the VMM's /proc/self/fd), so a symlink cannot redirect
// them outside.

func init() {
	registerSyscall(sysChmod, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.chmodPath(unix.AT_FDCWD, a[0], a.Uint32(1), true)
	})
	registerSyscall(sysFchmodat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.chmodPath(a.Int(0), a[1], a.Uint32(2), true)
	})
	registerSyscall(sysFchmod, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.changeFD(a.Int(0), "chmod", func(magic string) error {
			return unix.Fchmodat(unix.AT_FDCWD, magic, a.Uint32(1)&0o7777, 0)
		})
	})
	registerSyscall(sysChown, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.chownPath(unix.AT_FDCWD, a[0], a.Int(1), a.Int(2), 0)
	})
	registerSyscall(sysLchown, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.chownPath(unix.AT_FDCWD, a[0], a.Int(1), a.Int(2), unix.AT_SYMLINK_NOFOLLOW)
	})
	registerSyscall(sysFchownat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.chownPath(a.Int(0), a[1], a.Int(2), a.Int(3), a.Int(4))
	})
	registerSyscall(sysFchown, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.changeFD(a.Int(0), "chown", func(magic string) error {
			return unix.Fchownat(unix.AT_FDCWD, magic, a.Int(1), a.Int(2), 0)
		})
	})
	registerSyscall(sysUtimensat, sysUtimensatFn)
	registerSyscall(sysTruncate, sysTruncateFn)
	registerSyscall(sysFtruncate, func(t *Thread, a SyscallArgs) (uint64, error) {
		if a.Int64(1) < 0 {
			return 0, unix.EINVAL
		}
		return t.writableHostFD(a.Int(0), func(fd int) error { return unix.Ftruncate(fd, a.Int64(1)) })
	})
	registerSyscall(sysFallocate, func(t *Thread, a SyscallArgs) (uint64, error) {
		if a.Int64(2) < 0 || a.Int64(3) <= 0 {
			return 0, unix.EINVAL
		}
		return t.writableHostFD(a.Int(0), func(fd int) error { return unix.Fallocate(fd, a.Uint32(1), a.Int64(2), a.Int64(3)) })
	})
	registerSyscall(sysUmask, func(t *Thread, a SyscallArgs) (uint64, error) {
		return uint64(t.proc.fds.umask.Swap(a.Uint32(0) & 0o777)), nil
	})
	registerSyscall(sysStatfs, func(t *Thread, a SyscallArgs) (uint64, error) {
		p, err := t.readPathArg(a[0])
		if err != nil {
			return 0, err
		}
		n, err := t.lookup(unix.AT_FDCWD, p, true, false)
		if err != nil {
			return 0, err
		}
		defer n.close()
		fd := n.fd
		if !n.host() {
			pfd, err := hostOpenPath(unix.AT_FDCWD, "/proc", unix.O_DIRECTORY)
			if err != nil {
				return 0, err
			}
			defer unix.Close(pfd)
			fd = pfd
		}
		return t.statfs(fd, a[1])
	})
	registerSyscall(sysFstatfs, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fileOp(a.Int(0), func(f File) (uint64, error) {
			hf, ok := f.(*hostFile)
			if !ok {
				// Pipes and the standard streams: pipefs.
				b := make([]byte, 120)
				binary.LittleEndian.PutUint64(b[0:], pipefsMagic)
				binary.LittleEndian.PutUint64(b[8:], pageSize)
				binary.LittleEndian.PutUint64(b[64:], 255)
				binary.LittleEndian.PutUint64(b[72:], pageSize)
				return 0, t.proc.mm.CopyOut(a[1], b)
			}
			return t.statfs(hf.fd, a[1])
		})
	})
}

// onTarget runs f on the target of c, opened as an O_PATH fd confined
// beneath c's grant (following a final symlink only if follow and only
// within the grant), given as the VMM's /proc/self/fd path of that fd.
func (t *Thread) onTarget(c *confined, op string, follow bool, f func(magic string) error) error {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := t.openTarget(c, op, flags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return f(fdMagic(fd))
}

// changePath applies f to what guest path p names, beneath a grant.
func (t *Thread) changePath(dirfd int, pathAddr uint64, op string, follow bool, f func(magic string) error) (uint64, error) {
	p, err := t.readPathArg(pathAddr)
	if err != nil {
		return 0, err
	}
	c, err := t.resolveParent(dirfd, p, op, false)
	if err != nil {
		return 0, err
	}
	defer c.close()
	return 0, t.onTarget(&c, op, follow, f)
}

// changeFD applies f to the file of fd if it lies beneath a grant
// (EROFS, reported, for a host file outside; nothing for pipes and the
// standard streams, which have no place in the file system).
func (t *Thread) changeFD(fd int, op string, f func(magic string) error) (uint64, error) {
	return t.fileOp(fd, func(file File) (uint64, error) {
		hf, ok := file.(*hostFile)
		if !ok {
			return 0, nil
		}
		real, _ := hostRealPath(hf.fd)
		if !hf.writable && t.sandbox().grantFor(real) == nil {
			return 0, t.sandbox().denyWrite(op, real)
		}
		return 0, f(fdMagic(hf.fd))
	})
}

// writableHostFD runs f on fd's host fd if it was opened for writing
// (beneath a grant): EINVAL otherwise, as for a read-only fd.
func (t *Thread) writableHostFD(fd int, f func(hfd int) error) (uint64, error) {
	return t.fileOp(fd, func(file File) (uint64, error) {
		hf, ok := file.(*hostFile)
		if !ok || !hf.writable {
			return 0, unix.EINVAL
		}
		return 0, f(hf.fd)
	})
}

func (t *Thread) chmodPath(dirfd int, pathAddr uint64, mode uint32, follow bool) (uint64, error) {
	return t.changePath(dirfd, pathAddr, "chmod", follow, func(magic string) error {
		return unix.Fchmodat(unix.AT_FDCWD, magic, mode&0o7777, 0)
	})
}

func (t *Thread) chownPath(dirfd int, pathAddr uint64, uid, gid, flags int) (uint64, error) {
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	p, err := t.proc.mm.ReadString(pathAddr, maxPathLen)
	if err != nil {
		return 0, err
	}
	chown := func(magic string) error { return unix.Fchownat(unix.AT_FDCWD, magic, uid, gid, 0) }
	if p == "" {
		if flags&unix.AT_EMPTY_PATH == 0 {
			return 0, unix.ENOENT
		}
		return t.changeFD(dirfd, "chown", chown)
	}
	return t.changePath(dirfd, pathAddr, "chown", flags&unix.AT_SYMLINK_NOFOLLOW == 0, chown)
}

// utimensat special nanosecond values.
const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
)

func sysUtimensatFn(t *Thread, a SyscallArgs) (uint64, error) {
	dirfd, flags := a.Int(0), a.Int(3)
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	ts := []unix.Timespec{{Nsec: utimeNow}, {Nsec: utimeNow}}
	if a[2] != 0 {
		var b [2 * timespecSize]byte
		if err := t.proc.mm.CopyIn(a[2], b[:]); err != nil {
			return 0, err
		}
		for i := range ts {
			ts[i].Sec = int64(binary.LittleEndian.Uint64(b[16*i:]))
			ts[i].Nsec = int64(binary.LittleEndian.Uint64(b[16*i+8:]))
			if n := ts[i].Nsec; n != utimeNow && n != utimeOmit && (n < 0 || n >= 1e9) {
				return 0, unix.EINVAL
			}
		}
	}
	set := func(magic string) error { return unix.UtimesNanoAt(unix.AT_FDCWD, magic, ts, 0) }
	if a[1] == 0 {
		// futimens: the fd itself.
		return t.changeFD(dirfd, "utimensat", set)
	}
	p, err := t.proc.mm.ReadString(a[1], maxPathLen)
	if err != nil {
		return 0, err
	}
	if p == "" {
		if flags&unix.AT_EMPTY_PATH == 0 {
			return 0, unix.ENOENT
		}
		return t.changeFD(dirfd, "utimensat", set)
	}
	return t.changePath(dirfd, a[1], "utimensat", flags&unix.AT_SYMLINK_NOFOLLOW == 0, set)
}

func sysTruncateFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a.Int64(1) < 0 {
		return 0, unix.EINVAL
	}
	p, err := t.readPathArg(a[0])
	if err != nil {
		return 0, err
	}
	c, err := t.resolveParent(unix.AT_FDCWD, p, "truncate", false)
	if err != nil {
		return 0, err
	}
	defer c.close()
	fd, err := t.openTarget(&c, "truncate", unix.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return 0, unix.Ftruncate(fd, a.Int64(1))
}

// stRdonly is ST_RDONLY in struct statfs's f_flags; pipefsMagic is
// PIPEFS_MAGIC.
const (
	stRdonly    = 1
	pipefsMagic = 0x50495045
)

// statfs writes the struct statfs of the host fd's file system, marked
// read-only unless the file lies beneath a grant.
func (t *Thread) statfs(fd int, addr uint64) (uint64, error) {
	var s unix.Statfs_t
	if err := unix.Fstatfs(fd, &s); err != nil {
		return 0, err
	}
	if real, err := hostRealPath(fd); err != nil || t.sandbox().grantFor(real) == nil {
		s.Flags |= stRdonly
	}
	b := make([]byte, 120)
	le := binary.LittleEndian
	for i, v := range []uint64{uint64(s.Type), uint64(s.Bsize), s.Blocks, s.Bfree, s.Bavail, s.Files, s.Ffree} {
		le.PutUint64(b[8*i:], v)
	}
	le.PutUint32(b[56:], uint32(s.Fsid.Val[0]))
	le.PutUint32(b[60:], uint32(s.Fsid.Val[1]))
	le.PutUint64(b[64:], uint64(s.Namelen))
	le.PutUint64(b[72:], uint64(s.Frsize))
	le.PutUint64(b[80:], uint64(s.Flags))
	return 0, t.proc.mm.CopyOut(addr, b)
}
