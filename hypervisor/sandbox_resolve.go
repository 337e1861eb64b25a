package hypervisor

import (
	"github.com/vpmu/vpmu/internal/unix"
)

// Resolving guest paths. A guest path is relative to the guest's working
// directory, to a directory fd, or absolute. Two resolutions exist:
//
//   - lookup, for reading: the host kernel resolves the path from the
//     base directory's host fd (so "..", symlinks and mount points mean
//     what they mean to Linux) into an O_PATH fd, refusing magic links;
//     the guest's own /proc/self, /dev/stdin ... are emulated first.
//   - resolveParent, for everything that modifies the file system: the
//     parent directory is looked up as above and its real path must lie
//     beneath a granted directory; the change is then made relative to a
//     directory fd that openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)
//     opened from the grant's own fd. Whatever the guest does to the
//     tree meanwhile, the kernel keeps the change beneath the grant.

// maxPathLen is PATH_MAX - 1: the longest path argument.
const maxPathLen = 4095

// pathBase is the directory a relative guest path starts from.
type pathBase struct {
	// fd is the directory's host fd, or AT_FDCWD for an absolute path
	// (resolution from "/"), or emuBase for an emulated directory, whose
	// paths are resolved lexically from path.
	fd int
	// path is the directory's real path.
	path string
	of   *openFile // the reference held on the directory's file, or nil
}

// emuBase is pathBase.fd of an emulated directory.
const emuBase = -1

// pathBase returns the base of guest path p relative to dirfd. The
// caller must call release.
func (t *Thread) pathBase(dirfd int, p string) (pathBase, error) {
	if len(p) > 0 && p[0] == '/' {
		return pathBase{fd: unix.AT_FDCWD, path: "/"}, nil
	}
	var of *openFile
	if dirfd == unix.AT_FDCWD {
		of = t.proc.fds.getCwd()
	} else {
		var err error
		if of, err = t.proc.fds.get(dirfd); err != nil {
			return pathBase{}, err
		}
	}
	switch f := of.File.(type) {
	case *hostFile:
		if !f.isDir() {
			of.decRef()
			return pathBase{}, unix.ENOTDIR
		}
		return pathBase{fd: f.fd, path: f.realPath(), of: of}, nil
	case *procDir:
		return pathBase{fd: emuBase, path: f.path, of: of}, nil
	default:
		of.decRef()
		return pathBase{}, unix.ENOTDIR
	}
}

func (b pathBase) release() {
	if b.of != nil {
		b.of.decRef()
	}
}

// node is what a guest path names, once looked up: a host file held by
// an O_PATH fd, or an emulated object.
type node struct {
	lex string // the path, lexically absolute: for reports and emulation
	fd  int    // host O_PATH fd, -1 for an emulated node
	st  unix.Stat_t
	emu *emuNode
}

// close releases the node's host fd.
func (n *node) close() {
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

// host reports whether the node is a host file.
func (n *node) host() bool { return n.emu == nil }

// readPathArg reads a path argument from guest memory: ENOENT if empty.
func (t *Thread) readPathArg(addr uint64) (string, error) {
	p, err := t.proc.mm.ReadString(addr, maxPathLen)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", unix.ENOENT
	}
	return p, nil
}

// lookup resolves guest path p relative to dirfd for reading. follow
// says whether a final symlink is followed; dirOnly requires a
// directory. The caller must close the node.
func (t *Thread) lookup(dirfd int, p string, follow, dirOnly bool) (node, error) {
	b, err := t.pathBase(dirfd, p)
	if err != nil {
		return node{fd: -1}, err
	}
	defer b.release()
	return t.lookupFrom(b, p, follow, dirOnly, 0)
}

// maxRedirects bounds emulated symlinks followed in one lookup
// (/proc/self/root/proc/self/root/...), as the kernel's MAXSYMLINKS.
const maxRedirects = 40

func (t *Thread) lookupFrom(b pathBase, p string, follow, dirOnly bool, depth int) (node, error) {
	lex := lexJoin(b.path, p)
	if _, _, dot, trailing := splitLast(p); dot != "" || trailing {
		// The path names a directory: its final component is not a
		// symlink to keep (lexJoin may have made one final).
		follow = true
	}
	e, redirect, err := t.emulated(lex, follow)
	switch {
	case err != nil:
		return node{fd: -1, lex: lex}, err
	case redirect != "":
		if depth >= maxRedirects {
			return node{fd: -1, lex: lex}, unix.ELOOP
		}
		return t.lookupFrom(pathBase{fd: unix.AT_FDCWD, path: "/"}, redirect, follow, dirOnly, depth+1)
	case e != nil:
		if dirOnly && e.kind != emuDir {
			return node{fd: -1, lex: lex}, unix.ENOTDIR
		}
		return node{fd: -1, lex: lex, emu: e}, nil
	}
	dirfd, rel := b.fd, p
	if dirfd == emuBase {
		dirfd, rel = unix.AT_FDCWD, lex
	}
	extra := 0
	if !follow {
		extra |= unix.O_NOFOLLOW
	}
	if dirOnly {
		extra |= unix.O_DIRECTORY
	}
	fd, err := hostOpenPath(dirfd, rel, extra)
	if err != nil {
		return node{fd: -1, lex: lex}, err
	}
	n := node{fd: fd, lex: lex}
	if n.st, err = hostFstat(fd); err != nil {
		n.close()
		return node{fd: -1, lex: lex}, err
	}
	if n.st.Dev == procDev() {
		real, err := hostRealPath(fd)
		if err == nil && hiddenProcPath(real) {
			// Reached through a symlink or a numeric path: the VMM's
			// own /proc entries do not exist for the guest.
			n.close()
			return node{fd: -1, lex: lex}, unix.ENOENT
		}
	}
	return n, nil
}

// confined is where a change to the file system lands: a name in a
// directory beneath a granted directory.
type confined struct {
	g *grant
	// dir is an O_PATH fd of the parent directory, opened beneath g by
	// parent (-1 until then).
	dir int
	t   *Thread
	op  string
	// rel is the parent's path relative to g.path ("." for g itself).
	rel string
	// name is the final component, or "." when the path named a
	// directory itself (dot then holds the original "." or "..").
	name, dot string
	// trailing is set when the guest's path ended in a slash.
	trailing bool
	// lex is the guest's path, lexically absolute, for reports.
	lex string
}

func (c *confined) close() {
	if c.dir >= 0 {
		unix.Close(c.dir)
		c.dir = -1
	}
}

// target is the path of the changed object relative to c.g.
func (c *confined) target() string {
	p := c.rel
	if c.name != "." {
		if p == "." {
			p = c.name
		} else {
			p += "/" + c.name
		}
	}
	if c.trailing {
		p += "/"
	}
	return p
}

// openTarget opens the object itself, confined beneath the grant: a
// final symlink is followed only while it stays beneath it (flags may
// hold O_NOFOLLOW). A symlink that leads out is refused with EROFS and
// reported, as the write it was meant for.
func (t *Thread) openTarget(c *confined, op string, flags int, mode uint32) (int, error) {
	fd, err := openBeneath(c.g.fd, c.target(), flags, mode)
	if err == unix.EXDEV {
		return -1, t.sandbox().deny(DenyWrite, op+" "+c.lex+": a symlink leads outside the directories granted with --rw", unix.EROFS)
	}
	return fd, err
}

// resolveParent resolves guest path p relative to dirfd for a change
// made by op: it returns the parent directory, which must lie beneath a
// granted directory (EROFS, reported, otherwise). For a call that
// creates the name (create), an existing name outside the grants is
// EEXIST, unreported, as on a read-only mount. The caller must close the
// result.
func (t *Thread) resolveParent(dirfd int, p, op string, create bool) (confined, error) {
	return t.resolveParentDepth(dirfd, p, op, create, 0)
}

func trailingSlash(on bool) string {
	if on {
		return "/"
	}
	return ""
}

func (t *Thread) resolveParentDepth(dirfd int, p, op string, create bool, depth int) (confined, error) {
	c := confined{dir: -1}
	b, err := t.pathBase(dirfd, p)
	if err != nil {
		return c, err
	}
	defer b.release()
	c.lex = lexJoin(b.path, p)
	parent, name, dot, trailing := splitLast(p)
	c.name, c.dot, c.trailing = name, dot, trailing
	e, redirect, err := t.emulated(lexJoin(b.path, parent), true)
	switch {
	case redirect != "" && depth < maxRedirects:
		// /proc/self/cwd/x and the like: the host path they lead to.
		return t.resolveParentDepth(unix.AT_FDCWD, redirect+"/"+name+trailingSlash(trailing), op, create, depth+1)
	case redirect != "":
		return c, unix.ELOOP
	case err != nil:
		return c, err
	case e != nil || b.fd == emuBase:
		// Emulated directories (/proc/self ...) are never writable.
		return c, t.sandbox().denyWrite(op, c.lex)
	}
	pfd, err := hostOpenPath(b.fd, parent, unix.O_DIRECTORY)
	if err != nil {
		return c, err
	}
	defer unix.Close(pfd)
	real, err := hostRealPath(pfd)
	if err != nil {
		return c, err
	}
	g := t.sandbox().grantFor(real)
	if g == nil {
		if create && (name == "." || existsIn(pfd, name)) {
			return c, unix.EEXIST
		}
		return c, t.sandbox().denyWrite(op, c.lex)
	}
	c.g, c.rel = g, relTo(real, g.path)
	c.t, c.op = t, op
	return c, nil
}

// parent returns an O_PATH fd of the parent directory, opened from the
// grant and confined beneath it (once; close releases it): if the tree
// changed since resolveParent looked, this fails or finds another
// directory beneath the grant, never one outside.
func (c *confined) parent() (int, error) {
	if c.dir >= 0 {
		return c.dir, nil
	}
	fd, err := openBeneath(c.g.fd, c.rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == unix.EXDEV {
		return -1, c.t.sandbox().denyWrite(c.op, c.lex)
	}
	if err != nil {
		return -1, err
	}
	c.dir = fd
	return fd, nil
}

// existsIn reports whether name exists in the directory fd (without
// following a final symlink).
func existsIn(dir int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}
