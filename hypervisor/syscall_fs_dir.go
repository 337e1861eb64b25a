package hypervisor

import (
	"encoding/binary"
	"strconv"

	"github.com/vpmu/vpmu/internal/unix"
)

// Directories and names: getdents64, getcwd, chdir, fchdir, and the
// calls that create, remove and rename names, which the sandbox allows
// only beneath granted directories (rename and link across two grants
// are EXDEV, as across mounts).

func init() {
	registerSyscall(sysGetdents64, sysGetdents64Fn)
	registerSyscall(sysGetcwd, sysGetcwdFn)
	registerSyscall(sysChdir, sysChdirFn)
	registerSyscall(sysFchdir, sysFchdirFn)
	registerSyscall(sysMkdir, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.mkdirat(unix.AT_FDCWD, a[0], a.Uint32(1))
	})
	registerSyscall(sysMkdirat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.mkdirat(a.Int(0), a[1], a.Uint32(2))
	})
	registerSyscall(sysRmdir, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.unlinkat(unix.AT_FDCWD, a[0], unix.AT_REMOVEDIR)
	})
	registerSyscall(sysUnlink, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.unlinkat(unix.AT_FDCWD, a[0], 0)
	})
	registerSyscall(sysUnlinkat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.unlinkat(a.Int(0), a[1], a.Int(2))
	})
	registerSyscall(sysRename, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.renameat2(unix.AT_FDCWD, a[0], unix.AT_FDCWD, a[1], 0)
	})
	registerSyscall(sysRenameat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.renameat2(a.Int(0), a[1], a.Int(2), a[3], 0)
	})
	registerSyscall(sysRenameat2, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.renameat2(a.Int(0), a[1], a.Int(2), a[3], a.Uint32(4))
	})
	registerSyscall(sysLink, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.linkat(unix.AT_FDCWD, a[0], unix.AT_FDCWD, a[1], 0)
	})
	registerSyscall(sysLinkat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.linkat(a.Int(0), a[1], a.Int(2), a[3], a.Int(4))
	})
	registerSyscall(sysSymlink, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.symlinkat(a[0], unix.AT_FDCWD, a[1])
	})
	registerSyscall(sysSymlinkat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.symlinkat(a[0], a.Int(1), a[2])
	})
	registerSyscall(sysMknod, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.mknodat(unix.AT_FDCWD, a[0], a.Uint32(1))
	})
	registerSyscall(sysMknodat, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.mknodat(a.Int(0), a[1], a.Uint32(2))
	})
}

func sysGetdents64Fn(t *Thread, a SyscallArgs) (uint64, error) {
	size := int(min(a.Uint32(2), 1<<20))
	return t.fileOp(a.Int(0), func(f File) (uint64, error) {
		var out []byte
		switch f := f.(type) {
		case *hostFile:
			if f.opath {
				return 0, unix.EBADF
			}
			if !f.isDir() {
				return 0, unix.ENOTDIR
			}
			out = make([]byte, size)
			n, err := unix.Getdents(f.fd, out)
			for err == unix.EINTR {
				n, err = unix.Getdents(f.fd, out)
			}
			if err != nil {
				return 0, err
			}
			out = out[:n]
			if f.realPath() == "/proc" {
				out = filterDirents(out, strconv.Itoa(vmmPID()))
			}
		case *procDir:
			var err error
			if out, err = f.getdents(size); err != nil {
				return 0, err
			}
		default:
			return 0, unix.ENOTDIR
		}
		return uint64(len(out)), t.proc.mm.CopyOut(a[1], out)
	})
}

// filterDirents drops the linux_dirent64 records named hide (the VMM's
// own pid from a listing of /proc).
func filterDirents(b []byte, hide string) []byte {
	out := b[:0:0]
	for len(b) >= 19 {
		n := int(binary.LittleEndian.Uint16(b[16:]))
		if n < 19 || n > len(b) {
			break
		}
		name := b[19:n]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if string(name) != hide {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

func sysGetcwdFn(t *Thread, a SyscallArgs) (uint64, error) {
	of := t.proc.fds.getCwd()
	var cwd string
	switch f := of.File.(type) {
	case *hostFile:
		var err error
		if cwd, err = hostRealPath(f.fd); err != nil {
			of.decRef()
			return 0, err // ENOENT: the directory was removed
		}
	case *procDir:
		cwd = f.path
	}
	of.decRef()
	b := append([]byte(cwd), 0)
	if uint64(len(b)) > a[1] {
		return 0, unix.ERANGE
	}
	return uint64(len(b)), t.proc.mm.CopyOut(a[0], b)
}

func sysChdirFn(t *Thread, a SyscallArgs) (uint64, error) {
	p, err := t.readPathArg(a[0])
	if err != nil {
		return 0, err
	}
	n, err := t.lookup(unix.AT_FDCWD, p, true, true)
	if err != nil {
		return 0, err
	}
	var f File
	if n.host() {
		if err := unix.Faccessat(unix.AT_FDCWD, fdMagic(n.fd), accessX, 0); err != nil {
			n.close()
			return 0, err
		}
		hf, err := newHostFile(n.fd, unix.O_PATH, &n.st)
		if err != nil {
			n.close()
			return 0, err
		}
		n.fd = -1
		f = hf
	} else {
		f = &procDir{path: n.emu.path, st: t.emuStat(n.emu), list: n.emu.entries}
	}
	of := &openFile{File: f}
	of.refs.Store(1)
	t.proc.fds.setCwd(of)
	return 0, nil
}

func sysFchdirFn(t *Thread, a SyscallArgs) (uint64, error) {
	of, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	switch f := of.File.(type) {
	case *hostFile:
		if !f.isDir() {
			of.decRef()
			return 0, unix.ENOTDIR
		}
	case *procDir:
	default:
		of.decRef()
		return 0, unix.ENOTDIR
	}
	t.proc.fds.setCwd(of) // keeps the reference
	return 0, nil
}

// nameArg is the final component as the host call takes it: with the
// guest's trailing slash, which the kernel checks (a directory is
// required) without following a final symlink.
func (c *confined) nameArg() string {
	if c.trailing {
		return c.name + "/"
	}
	return c.name
}

func (t *Thread) mkdirat(dirfd int, pathAddr uint64, mode uint32) (uint64, error) {
	p, err := t.readPathArg(pathAddr)
	if err != nil {
		return 0, err
	}
	c, err := t.resolveParent(dirfd, p, "mkdir", true)
	if err != nil {
		return 0, err
	}
	defer c.close()
	if c.name == "." {
		return 0, unix.EEXIST
	}
	want := mode & 0o7777 &^ t.proc.fds.umask.Load()
	dir, err := c.parent()
	if err != nil {
		return 0, err
	}
	if err := unix.Mkdirat(dir, c.nameArg(), want); err != nil {
		return 0, err
	}
	if want&vmmUmask() != 0 {
		t.onTarget(&c, "mkdir", false, func(magic string) error { return unix.Fchmodat(unix.AT_FDCWD, magic, want, 0) })
	}
	return 0, nil
}

func (t *Thread) unlinkat(dirfd int, pathAddr uint64, flags int) (uint64, error) {
	if flags&^unix.AT_REMOVEDIR != 0 {
		return 0, unix.EINVAL
	}
	p, err := t.readPathArg(pathAddr)
	if err != nil {
		return 0, err
	}
	op := "unlink"
	if flags != 0 {
		op = "rmdir"
	}
	c, err := t.resolveParent(dirfd, p, op, false)
	if err != nil {
		return 0, err
	}
	defer c.close()
	switch {
	case c.dot == "." && flags != 0:
		return 0, unix.EINVAL
	case c.dot == ".." && flags != 0:
		return 0, unix.ENOTEMPTY
	case c.dot != "":
		return 0, unix.EISDIR
	}
	dir, err := c.parent()
	if err != nil {
		return 0, err
	}
	return 0, unix.Unlinkat(dir, c.nameArg(), flags)
}

// renameat2 flags.
const (
	renameNoreplace = 1
	renameExchange  = 2
)

func (t *Thread) renameat2(olddirfd int, oldAddr uint64, newdirfd int, newAddr uint64, flags uint32) (uint64, error) {
	if flags&^(renameNoreplace|renameExchange) != 0 || flags == renameNoreplace|renameExchange {
		return 0, unix.EINVAL
	}
	oldp, err := t.readPathArg(oldAddr)
	if err != nil {
		return 0, err
	}
	newp, err := t.readPathArg(newAddr)
	if err != nil {
		return 0, err
	}
	c1, err := t.resolveParent(olddirfd, oldp, "rename", false)
	if err != nil {
		return 0, err
	}
	defer c1.close()
	c2, err := t.resolveParent(newdirfd, newp, "rename", false)
	if err != nil {
		return 0, err
	}
	defer c2.close()
	switch {
	case c1.g != c2.g:
		return 0, unix.EXDEV
	case c1.dot != "" || c2.dot != "":
		return 0, unix.EBUSY
	}
	dir1, err := c1.parent()
	if err != nil {
		return 0, err
	}
	dir2, err := c2.parent()
	if err != nil {
		return 0, err
	}
	return 0, unix.Renameat2(dir1, c1.nameArg(), dir2, c2.nameArg(), uint(flags))
}

func (t *Thread) linkat(olddirfd int, oldAddr uint64, newdirfd int, newAddr uint64, flags int) (uint64, error) {
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	oldp, err := t.proc.mm.ReadString(oldAddr, maxPathLen)
	if err != nil {
		return 0, err
	}
	newp, err := t.readPathArg(newAddr)
	if err != nil {
		return 0, err
	}
	c2, err := t.resolveParent(newdirfd, newp, "link", true)
	if err != nil {
		return 0, err
	}
	defer c2.close()
	if c2.dot != "" {
		return 0, unix.EEXIST
	}
	if oldp == "" && flags&unix.AT_EMPTY_PATH == 0 {
		return 0, unix.ENOENT
	}
	if flags == 0 {
		// The old name itself, not followed: beneath the same grant.
		c1, err := t.resolveParent(olddirfd, oldp, "link", false)
		if err != nil {
			return 0, err
		}
		defer c1.close()
		if c1.g != c2.g {
			return 0, unix.EXDEV
		}
		if c1.dot != "" {
			return 0, unix.EPERM // a directory
		}
		dir1, err := c1.parent()
		if err != nil {
			return 0, err
		}
		dir2, err := c2.parent()
		if err != nil {
			return 0, err
		}
		return 0, unix.Linkat(dir1, c1.name, dir2, c2.nameArg(), 0)
	}
	// AT_SYMLINK_FOLLOW or AT_EMPTY_PATH (an O_TMPFILE file made
	// visible): what the old path or fd leads to, which must already lie
	// beneath the same grant, so that no file from outside becomes
	// writable through a new link.
	fd, release, err := t.linkSource(olddirfd, oldp)
	if err != nil {
		return 0, err
	}
	defer release()
	real, _ := hostRealPath(fd)
	if g := t.sandbox().grantFor(real); g == nil {
		return 0, t.sandbox().denyWrite("link from", real)
	} else if g != c2.g {
		return 0, unix.EXDEV
	}
	dir2, err := c2.parent()
	if err != nil {
		return 0, err
	}
	return 0, unix.Linkat(unix.AT_FDCWD, fdMagic(fd), dir2, c2.nameArg(), unix.AT_SYMLINK_FOLLOW)
}

// linkSource returns a host fd of the file linkat links with
// AT_SYMLINK_FOLLOW or AT_EMPTY_PATH (p empty: olddirfd itself).
func (t *Thread) linkSource(olddirfd int, p string) (int, func(), error) {
	if p == "" {
		of, err := t.proc.fds.get(olddirfd)
		if err != nil {
			return -1, nil, err
		}
		hf, ok := of.File.(*hostFile)
		if !ok {
			of.decRef()
			return -1, nil, unix.EXDEV
		}
		return hf.fd, func() { of.decRef() }, nil
	}
	n, err := t.lookup(olddirfd, p, true, false)
	if err != nil {
		return -1, nil, err
	}
	if n.host() {
		return n.fd, n.close, nil
	}
	if n.emu.kind == emuFD {
		return t.linkSource(n.emu.fd, "")
	}
	return -1, nil, unix.EXDEV
}

func (t *Thread) symlinkat(targetAddr uint64, newdirfd int, linkAddr uint64) (uint64, error) {
	target, err := t.readPathArg(targetAddr)
	if err != nil {
		return 0, err
	}
	p, err := t.readPathArg(linkAddr)
	if err != nil {
		return 0, err
	}
	c, err := t.resolveParent(newdirfd, p, "symlink", true)
	if err != nil {
		return 0, err
	}
	defer c.close()
	if c.dot != "" {
		return 0, unix.EEXIST
	}
	// The link's text is not resolved now; whoever follows it later is
	// confined as every write is.
	dir, err := c.parent()
	if err != nil {
		return 0, err
	}
	return 0, unix.Symlinkat(target, dir, c.nameArg())
}

// mknodat creates regular files only: device nodes, named pipes and
// sockets are refused (EPERM), as the sandbox would not open them.
func (t *Thread) mknodat(dirfd int, pathAddr uint64, mode uint32) (uint64, error) {
	if typ := mode & unix.S_IFMT; typ != 0 && typ != unix.S_IFREG {
		return 0, unix.EPERM
	}
	p, err := t.readPathArg(pathAddr)
	if err != nil {
		return 0, err
	}
	c, err := t.resolveParent(dirfd, p, "mknod", true)
	if err != nil {
		return 0, err
	}
	defer c.close()
	if c.dot != "" {
		return 0, unix.EEXIST
	}
	want := mode & 0o7777 &^ t.proc.fds.umask.Load()
	dir, err := c.parent()
	if err != nil {
		return 0, err
	}
	if err := unix.Mknodat(dir, c.nameArg(), unix.S_IFREG|want, 0); err != nil {
		return 0, err
	}
	if want&vmmUmask() != 0 {
		t.onTarget(&c, "mknod", false, func(magic string) error { return unix.Fchmodat(unix.AT_FDCWD, magic, want, 0) })
	}
	return 0, nil
}
