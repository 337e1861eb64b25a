package hypervisor

import (
	"fmt"
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// open(2) and openat(2) through the sandbox. A read-only open looks the
// path up on the host (sandbox_resolve.go) and reopens the O_PATH fd it
// found with the guest's flags; an open that writes, truncates or
// creates resolves the parent beneath a granted directory and opens the
// file with openat2(RESOLVE_BENEATH) from the grant. Character devices
// are emulated by device number, whatever path reached them.

// openHostFlags are the open flags passed on to the host; the rest are
// ignored, as open(2) ignores unknown flags.
const openHostFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_APPEND |
	unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_LARGEFILE | unix.O_NOCTTY |
	unix.O_DIRECT | unix.O_DSYNC | unix.O_SYNC | unix.O_NOATIME | unix.O_TMPFILE | unix.O_PATH

// reopenFlags are the flags an O_PATH fd is reopened with.
const reopenFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_NONBLOCK | unix.O_LARGEFILE | unix.O_NOCTTY |
	unix.O_DIRECT | unix.O_DSYNC | unix.O_SYNC | unix.O_NOATIME | unix.O_DIRECTORY

// vmmUmask is the VMM's umask, which the host applies to every file the
// guest creates on top of the guest's own.
var vmmUmask = sync.OnceValue(hostUmask)

func (t *Thread) openat(dirfd int, pathAddr uint64, flags int, mode uint32) (uint64, error) {
	p, err := t.readPathArg(pathAddr)
	if err != nil {
		return 0, err
	}
	f, err := t.open(dirfd, p, flags, mode)
	if err != nil {
		return 0, err
	}
	fd, err := t.proc.fds.installFlags(f, flags|unix.O_LARGEFILE)
	return uint64(fd), err
}

// open opens guest path p relative to dirfd with open flags and returns
// the File.
func (t *Thread) open(dirfd int, p string, flags int, mode uint32) (File, error) {
	flags &= openHostFlags
	acc := flags & unix.O_ACCMODE
	tmpfile := flags&unix.O_TMPFILE == unix.O_TMPFILE
	switch {
	case acc == unix.O_ACCMODE:
		return nil, unix.EINVAL
	case tmpfile && acc == unix.O_RDONLY:
		return nil, unix.EINVAL
	case flags&unix.O_PATH != 0:
		flags &= unix.O_PATH | unix.O_NOFOLLOW | unix.O_DIRECTORY
		acc = unix.O_RDONLY
	}
	write := acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0 || tmpfile
	if !tmpfile {
		excl := flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL
		follow := flags&unix.O_NOFOLLOW == 0 && !excl
		n, err := t.lookup(dirfd, p, follow, flags&unix.O_DIRECTORY != 0)
		switch {
		case err == nil && excl:
			n.close()
			return nil, unix.EEXIST
		case err == nil && !n.host():
			return t.openEmu(n, flags, mode)
		case err == nil && !regularOrDir(n.st.Mode) && n.st.Mode&unix.S_IFMT != unix.S_IFLNK:
			defer n.close()
			return t.openSpecial(&n, flags)
		case err == nil && !write:
			return t.openHostNode(&n, flags)
		case err == nil:
			n.close()
		case err == unix.ENOENT && flags&unix.O_CREAT != 0:
			// Created below, beneath a grant.
		default:
			return nil, err
		}
	}
	c, err := t.resolveParent(dirfd, p, "open for writing", false)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if c.name == "." && flags&unix.O_CREAT != 0 {
		return nil, unix.EISDIR
	}
	hfd, err := t.createTarget(&c, flags, mode)
	if err != nil {
		return nil, err
	}
	f, err := newHostFile(hfd, flags, nil)
	if err != nil {
		unix.Close(hfd)
		return nil, err
	}
	if !regularOrDir(f.mode) {
		// Only a race (or a host process) puts a device here after the
		// lookup; never hand the guest a writable one.
		f.Close()
		return nil, t.sandbox().deny(DenyDevice, fmt.Sprintf("open %s: device files and named pipes are not available in the vpmu sandbox", c.lex), unix.EACCES)
	}
	return f, nil
}

// createTarget opens c's target for writing with the guest's umask
// applied. The host applies the VMM's umask too; where that would take
// away bits the guest's umask leaves, a file the call creates gets its
// mode set exactly.
func (t *Thread) createTarget(c *confined, flags int, mode uint32) (int, error) {
	want := mode & 0o7777 &^ t.proc.fds.umask.Load()
	if flags&unix.O_CREAT == 0 || want&vmmUmask() == 0 {
		return t.openTarget(c, "open for writing", flags, want)
	}
	for {
		fd, err := t.openTarget(c, "open for writing", flags|unix.O_EXCL, want)
		if err == nil {
			unix.Fchmodat(unix.AT_FDCWD, fdMagic(fd), want, 0)
			return fd, nil
		}
		if err != unix.EEXIST || flags&unix.O_EXCL != 0 {
			return -1, err
		}
		// It exists: open it as it is; if it vanished in between, try
		// creating it again.
		fd, err = t.openTarget(c, "open for writing", flags&^unix.O_CREAT, 0)
		if err != unix.ENOENT {
			return fd, err
		}
	}
}

// regularOrDir reports whether mode is a regular file or a directory.
func regularOrDir(mode uint32) bool {
	return mode&unix.S_IFMT == unix.S_IFREG || mode&unix.S_IFMT == unix.S_IFDIR
}

// openHostNode opens a looked-up host file for reading (or as O_PATH),
// consuming the node's fd.
func (t *Thread) openHostNode(n *node, flags int) (File, error) {
	if flags&unix.O_PATH != 0 {
		f, err := newHostFile(n.fd, unix.O_PATH, &n.st)
		if err != nil {
			n.close()
			return nil, err
		}
		n.fd = -1
		return f, nil
	}
	defer n.close()
	if n.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil, unix.ELOOP // O_NOFOLLOW on a symlink
	}
	hfd, err := hostReopen(n.fd, flags&reopenFlags)
	if err != nil {
		return nil, err
	}
	f, err := newHostFile(hfd, flags, &n.st)
	if err != nil {
		unix.Close(hfd)
		return nil, err
	}
	return f, nil
}

// openSpecial opens a host device, named pipe or socket: the harmless
// character devices are emulated, /dev/tty is ENXIO (there is no
// controlling terminal), the rest is refused.
func (t *Thread) openSpecial(n *node, flags int) (File, error) {
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		major, minor := devMajorMinor(n.st.Rdev)
		if major == memMajor {
			kinds := map[uint32]devKind{minorNull: devNull, minorZero: devZero, minorFull: devFull, minorRand: devRandom, minorURand: devRandom}
			if k, ok := kinds[minor]; ok {
				return &devFile{kind: k, name: n.lex, st: n.st}, nil
			}
		}
		if major == ttyMajor && minor == minorTTY {
			return nil, unix.ENXIO
		}
	case unix.S_IFSOCK:
		return nil, unix.ENXIO
	}
	return nil, t.sandbox().deny(DenyDevice, fmt.Sprintf("open %s: device files and named pipes are not available in the vpmu sandbox", n.lex), unix.EACCES)
}

// openEmu opens an emulated node.
func (t *Thread) openEmu(n node, flags int, mode uint32) (File, error) {
	e := n.emu
	acc := flags & unix.O_ACCMODE
	write := acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	switch e.kind {
	case emuFD:
		return t.reopenFD(e.fd, flags, mode)
	case emuSymlink:
		if flags&unix.O_PATH == 0 {
			return nil, unix.ELOOP
		}
		return &memFile{name: e.path, st: t.emuStat(e), opath: true}, nil
	case emuDir:
		if write {
			return nil, unix.EISDIR
		}
		return &procDir{path: e.path, st: t.emuStat(e), list: e.entries}, nil
	}
	if flags&unix.O_DIRECTORY != 0 {
		return nil, unix.ENOTDIR
	}
	if write {
		return nil, unix.EACCES
	}
	if flags&unix.O_PATH != 0 {
		return &memFile{name: e.path, st: t.emuStat(e), opath: true}, nil
	}
	return &memFile{name: e.path, st: t.emuStat(e), data: e.content()}, nil
}

// reopenFD opens /proc/self/fd/N: a new open of what guest fd N refers
// to. A host file is reopened from the VMM's own fd, for writing only if
// the sandbox allows writing to it; a pipe gets a new end; other files
// (the standard streams, emulated files) are shared, as with dup.
func (t *Thread) reopenFD(fd, flags int, mode uint32) (File, error) {
	of, err := t.proc.fds.get(fd)
	if err != nil {
		return nil, unix.ENOENT
	}
	defer of.decRef()
	acc := flags & unix.O_ACCMODE
	write := acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	switch f := of.File.(type) {
	case *hostFile:
		if write && !f.writable {
			// Through its path, so that the sandbox decides.
			if p, err := hostRealPath(f.fd); err == nil {
				return t.open(unix.AT_FDCWD, p, flags&^(unix.O_CREAT|unix.O_EXCL), mode)
			}
			return nil, t.sandbox().denyWrite("open for writing", f.realPath())
		}
		if flags&unix.O_PATH != 0 {
			flags = unix.O_PATH
		}
		hfd, err := hostReopen(f.fd, flags&(reopenFlags|unix.O_PATH))
		if err != nil {
			return nil, err
		}
		nf, err := newHostFile(hfd, flags, nil)
		if err != nil {
			unix.Close(hfd)
			return nil, err
		}
		return nf, nil
	case *pipeEnd:
		return f.p.open(acc != unix.O_RDONLY), nil
	default:
		of.refs.Add(1)
		return sharedFile{of}, nil
	}
}

// sharedFile is a second open of a file that cannot be opened twice (the
// standard streams, emulated files): it shares the first open's File and
// lets go of its reference when closed.
type sharedFile struct{ *openFile }

func (s sharedFile) Close() error { return s.openFile.decRef() }
