package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// Path calls that only look: stat, lstat, newfstatat, statx, readlink,
// readlinkat, access, faccessat, faccessat2. Paths resolve as
// sandbox_resolve.go describes.

func init() {
	registerSyscall(sysNewfstatat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fstatat(a.Int(0), a[1], a[2], a.Int(3))
	})
	registerSyscall(sysStat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fstatat(unix.AT_FDCWD, a[0], a[1], 0)
	})
	registerSyscall(sysLstat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.fstatat(unix.AT_FDCWD, a[0], a[1], unix.AT_SYMLINK_NOFOLLOW)
	})
	registerSyscall(sysStatx, sysStatxFn)
	registerSyscall(sysReadlink, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.readlinkat(unix.AT_FDCWD, a[0], a[1], a[2])
	})
	registerSyscall(sysReadlinkat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.readlinkat(a.Int(0), a[1], a[2], a[3])
	})
	registerSyscall(sysAccess, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.faccessat(unix.AT_FDCWD, a[0], a.Int(1), 0)
	})
	registerSyscall(sysFaccessat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.faccessat(a.Int(0), a[1], a.Int(2), 0)
	})
	registerSyscall(sysFaccessat2, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.faccessat(a.Int(0), a[1], a.Int(2), a.Int(3))
	})
}

// statPath stats guest path p relative to dirfd (flags: AT_EMPTY_PATH,
// AT_SYMLINK_NOFOLLOW).
func (t *Thread) statPath(dirfd int, p string, flags int) (unix.Stat_t, error) {
	if p == "" {
		if flags&unix.AT_EMPTY_PATH == 0 {
			return unix.Stat_t{}, unix.ENOENT
		}
		return t.statFD(dirfd)
	}
	n, err := t.lookup(dirfd, p, flags&unix.AT_SYMLINK_NOFOLLOW == 0, false)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer n.close()
	if n.host() {
		return n.st, nil
	}
	if n.emu.kind == emuFD {
		return t.statFD(n.emu.fd)
	}
	return t.emuStat(n.emu), nil
}

// statFD stats an fd, or the working directory for AT_FDCWD.
func (t *Thread) statFD(fd int) (unix.Stat_t, error) {
	var of *openFile
	if fd == unix.AT_FDCWD {
		of = t.proc.fds.getCwd()
	} else {
		var err error
		if of, err = t.proc.fds.get(fd); err != nil {
			return unix.Stat_t{}, err
		}
	}
	defer of.decRef()
	return of.Stat()
}

// statFlagsValid are the flags newfstatat and statx accept.
const statFlagsValid = unix.AT_SYMLINK_NOFOLLOW | unix.AT_EMPTY_PATH | unix.AT_NO_AUTOMOUNT

func (t *Thread) fstatat(dirfd int, pathAddr, statAddr uint64, flags int) (uint64, error) {
	if flags&^statFlagsValid != 0 {
		return 0, unix.EINVAL
	}
	p, err := t.proc.mm.ReadString(pathAddr, maxPathLen)
	if err != nil {
		return 0, err
	}
	st, err := t.statPath(dirfd, p, flags)
	if err != nil {
		return 0, err
	}
	return 0, t.proc.mm.CopyOut(statAddr, encodeStat(&st))
}

// statx mask bits and the struct's size.
const (
	statxBasicStats = 0x7ff
	statxBtime      = 0x800
	statxSize       = 256
)

func sysStatxFn(t *Thread, a SyscallArgs) (uint64, error) {
	dirfd, flags, mask := a.Int(0), a.Int(2), a.Uint32(3)
	if flags&^(statFlagsValid|unix.AT_STATX_SYNC_TYPE) != 0 || flags&unix.AT_STATX_SYNC_TYPE == unix.AT_STATX_SYNC_TYPE {
		return 0, unix.EINVAL
	}
	if mask&0x80000000 != 0 { // STATX__RESERVED
		return 0, unix.EINVAL
	}
	p, err := t.proc.mm.ReadString(a[1], maxPathLen)
	if err != nil {
		return 0, err
	}
	// Host files: the host's statx of the O_PATH fd (birth time, mount
	// id ...); everything else: built from struct stat.
	var hostFD = -1
	var release func()
	if p == "" && flags&unix.AT_EMPTY_PATH != 0 {
		of, err := t.statxFile(dirfd)
		if err != nil {
			return 0, err
		}
		release = func() { of.decRef() }
		if hf, ok := of.File.(*hostFile); ok {
			hostFD = hf.fd
		}
	} else if p != "" {
		n, err := t.lookup(dirfd, p, flags&unix.AT_SYMLINK_NOFOLLOW == 0, false)
		if err != nil {
			return 0, err
		}
		release = n.close
		hostFD = n.fd
	}
	if release != nil {
		defer release()
	}
	if hostFD >= 0 {
		var stx unix.Statx_t
		if err := unix.Statx(hostFD, "", unix.AT_EMPTY_PATH|flags&unix.AT_STATX_SYNC_TYPE, int(mask), &stx); err != nil {
			return 0, err
		}
		return 0, t.proc.mm.CopyOut(a[4], encodeStatx(&stx))
	}
	st, err := t.statPath(dirfd, p, flags)
	if err != nil {
		return 0, err
	}
	return 0, t.proc.mm.CopyOut(a[4], encodeStatx(statxFromStat(&st)))
}

// statxFile returns fd's open file (the working directory for
// AT_FDCWD), with a reference.
func (t *Thread) statxFile(fd int) (*openFile, error) {
	if fd == unix.AT_FDCWD {
		return t.proc.fds.getCwd(), nil
	}
	return t.proc.fds.get(fd)
}

// statxFromStat fills a statx from a struct stat.
func statxFromStat(st *unix.Stat_t) *unix.Statx_t {
	major, minor := devMajorMinor(st.Dev)
	rmajor, rminor := devMajorMinor(st.Rdev)
	return &unix.Statx_t{
		Mask: statxBasicStats, Blksize: uint32(st.Blksize), Nlink: uint32(st.Nlink),
		Uid: st.Uid, Gid: st.Gid, Mode: uint16(st.Mode), Ino: st.Ino, Size: uint64(st.Size),
		Blocks:     uint64(st.Blocks),
		Atime:      unix.StatxTimestamp{Sec: st.Atim.Sec, Nsec: uint32(st.Atim.Nsec)},
		Ctime:      unix.StatxTimestamp{Sec: st.Ctim.Sec, Nsec: uint32(st.Ctim.Nsec)},
		Mtime:      unix.StatxTimestamp{Sec: st.Mtim.Sec, Nsec: uint32(st.Mtim.Nsec)},
		Rdev_major: rmajor, Rdev_minor: rminor, Dev_major: major, Dev_minor: minor,
	}
}

// encodeStatx lays out struct statx (256 bytes).
func encodeStatx(s *unix.Statx_t) []byte {
	b := make([]byte, statxSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], s.Mask)
	le.PutUint32(b[4:], s.Blksize)
	le.PutUint64(b[8:], s.Attributes)
	le.PutUint32(b[16:], s.Nlink)
	le.PutUint32(b[20:], s.Uid)
	le.PutUint32(b[24:], s.Gid)
	le.PutUint16(b[28:], s.Mode)
	le.PutUint64(b[32:], s.Ino)
	le.PutUint64(b[40:], s.Size)
	le.PutUint64(b[48:], s.Blocks)
	le.PutUint64(b[56:], s.Attributes_mask)
	for i, ts := range []unix.StatxTimestamp{s.Atime, s.Btime, s.Ctime, s.Mtime} {
		le.PutUint64(b[64+16*i:], uint64(ts.Sec))
		le.PutUint32(b[72+16*i:], ts.Nsec)
	}
	le.PutUint32(b[128:], s.Rdev_major)
	le.PutUint32(b[132:], s.Rdev_minor)
	le.PutUint32(b[136:], s.Dev_major)
	le.PutUint32(b[140:], s.Dev_minor)
	le.PutUint64(b[144:], s.Mnt_id)
	le.PutUint32(b[152:], s.Dio_mem_align)
	le.PutUint32(b[156:], s.Dio_offset_align)
	return b
}

func (t *Thread) readlinkat(dirfd int, pathAddr, buf, size uint64) (uint64, error) {
	if int64(size) <= 0 {
		return 0, unix.EINVAL
	}
	p, err := t.readPathArg(pathAddr)
	if err != nil {
		return 0, err
	}
	n, err := t.lookup(dirfd, p, false, false)
	if err != nil {
		return 0, err
	}
	defer n.close()
	var target string
	switch {
	case !n.host() && n.emu.kind == emuSymlink:
		target = n.emu.target
	case n.host() && n.st.Mode&unix.S_IFMT == unix.S_IFLNK:
		b := make([]byte, maxPathLen+1)
		k, err := unix.Readlinkat(n.fd, "", b)
		if err != nil {
			return 0, err
		}
		target = string(b[:k])
	default:
		return 0, unix.EINVAL
	}
	out := []byte(target)
	if uint64(len(out)) > size {
		out = out[:size]
	}
	return uint64(len(out)), t.proc.mm.CopyOut(buf, out)
}

// access(2) modes.
const (
	accessX = 1
	accessW = 2
	accessR = 4
)

func (t *Thread) faccessat(dirfd int, pathAddr uint64, mode, flags int) (uint64, error) {
	if mode&^(accessR|accessW|accessX) != 0 || flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	p, err := t.proc.mm.ReadString(pathAddr, maxPathLen)
	if err != nil {
		return 0, err
	}
	if p == "" && flags&unix.AT_EMPTY_PATH == 0 {
		return 0, unix.ENOENT
	}
	if p == "" {
		p = "."
	}
	n, err := t.lookup(dirfd, p, flags&unix.AT_SYMLINK_NOFOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	defer n.close()
	if !n.host() {
		if mode&accessW != 0 && n.emu.kind != emuFD {
			return 0, unix.EACCES
		}
		return 0, nil
	}
	if mode&accessW != 0 && (regularOrDir(n.st.Mode) || n.st.Mode&unix.S_IFMT == unix.S_IFLNK) {
		// Writable only beneath a grant; a read-only file system says
		// EROFS (it is a question, not a write: no report).
		real, err := hostRealPath(n.fd)
		if err != nil || t.sandbox().grantFor(real) == nil {
			return 0, unix.EROFS
		}
	}
	if mode == 0 {
		return 0, nil
	}
	return 0, unix.Faccessat(unix.AT_FDCWD, fdMagic(n.fd), uint32(mode), flags&unix.AT_EACCESS)
}
