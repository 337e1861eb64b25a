package hypervisor

import (
	"path/filepath"
	"strings"

	"github.com/vpmu/vpmu/internal/unix"
)

// Path resolution and the path-based calls: open, stat, readlink,
// access. Guest paths are host paths (the host file system, read-only
// outside Config.RWDirs); relative paths resolve against the guest's
// working directory or a directory fd. The file-system family will
// replace the string joins by openat2(RESOLVE_BENEATH)-style resolution
// to close symlink escapes from the writable directories.

// resolvePath turns a guest path relative to dirfd into a host path.
func (t *Thread) resolvePath(dirfd int, path string) (string, error) {
	if path == "" {
		return "", unix.ENOENT
	}
	if filepath.IsAbs(path) {
		return filepath.Clean(path), nil
	}
	if dirfd == unix.AT_FDCWD {
		t.proc.mu.Lock()
		cwd := t.proc.cwd
		t.proc.mu.Unlock()
		return filepath.Join(cwd, path), nil
	}
	of, err := t.proc.fds.get(dirfd)
	if err != nil {
		return "", err
	}
	defer t.proc.fds.put(of)
	hf, ok := of.File.(*hostFile)
	if !ok {
		return "", unix.ENOTDIR
	}
	return filepath.Join(hf.path, path), nil
}

// readPath reads a path argument and resolves it.
func (t *Thread) readPath(dirfd int, addr uint64) (string, error) {
	path, err := t.proc.mm.ReadString(addr, 4095)
	if err != nil {
		return "", err
	}
	return t.resolvePath(dirfd, path)
}

// hiddenPath reports host paths the guest must not see: the VMM's own
// /proc entries, which would describe the VMM rather than the guest.
func hiddenPath(p string) bool {
	return p == "/proc/self" || strings.HasPrefix(p, "/proc/self/") ||
		p == "/proc/thread-self" || strings.HasPrefix(p, "/proc/thread-self/")
}

// writable reports whether the guest may modify host path p.
func (t *Thread) writable(p string) bool {
	if p == "/dev/null" {
		return true
	}
	for _, d := range t.proc.vm.cfg.RWDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// Open flags the VMM passes to the host.
const openFlagsAllowed = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_APPEND |
	unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_PATH | unix.O_LARGEFILE | 0x100 /* O_NOCTTY */

func (t *Thread) openat(dirfd int, pathAddr uint64, flags int, mode uint32) (uint64, error) {
	p, err := t.readPath(dirfd, pathAddr)
	if err != nil {
		return 0, err
	}
	if hiddenPath(p) {
		return 0, unix.ENOENT
	}
	write := flags&unix.O_ACCMODE != unix.O_RDONLY || flags&(unix.O_CREAT|unix.O_TRUNC) != 0
	if write && !t.writable(p) {
		return 0, unix.EROFS
	}
	hfd, err := unix.Openat(unix.AT_FDCWD, p, flags&openFlagsAllowed|unix.O_CLOEXEC, mode&0o7777)
	if err != nil {
		return 0, err
	}
	fd, err := t.proc.fds.install(&hostFile{fd: hfd, path: p, writable: flags&unix.O_ACCMODE != unix.O_RDONLY}, flags&unix.O_CLOEXEC != 0)
	return uint64(fd), err
}

func (t *Thread) fstatat(dirfd int, pathAddr, statAddr uint64, flags int) (uint64, error) {
	path, err := t.proc.mm.ReadString(pathAddr, 4095)
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	if path == "" && flags&unix.AT_EMPTY_PATH != 0 {
		_, err := t.fileOp(dirfd, func(f File) (uint64, error) {
			st, err = f.Stat()
			return 0, err
		})
		if err != nil {
			return 0, err
		}
	} else {
		p, err := t.resolvePath(dirfd, path)
		if err != nil {
			return 0, err
		}
		if hiddenPath(p) {
			return 0, unix.ENOENT
		}
		if err := unix.Fstatat(unix.AT_FDCWD, p, &st, flags&unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, err
		}
	}
	return 0, t.proc.mm.CopyOut(statAddr, encodeStat(&st))
}

func (t *Thread) readlinkat(dirfd int, pathAddr, buf, size uint64) (uint64, error) {
	if int64(size) <= 0 {
		return 0, unix.EINVAL
	}
	p, err := t.readPath(dirfd, pathAddr)
	if err != nil {
		return 0, err
	}
	var target string
	switch {
	case p == "/proc/self/exe" || p == "/proc/thread-self/exe":
		target = t.proc.exe
	case hiddenPath(p):
		return 0, unix.ENOENT
	default:
		b := make([]byte, 4096)
		n, err := unix.Readlinkat(unix.AT_FDCWD, p, b)
		if err != nil {
			return 0, err
		}
		target = string(b[:n])
	}
	out := []byte(target)
	if uint64(len(out)) > size {
		out = out[:size]
	}
	return uint64(len(out)), t.proc.mm.CopyOut(buf, out)
}

func (t *Thread) faccessat(dirfd int, pathAddr uint64, mode int) (uint64, error) {
	const wOK = 2
	p, err := t.readPath(dirfd, pathAddr)
	if err != nil {
		return 0, err
	}
	if hiddenPath(p) {
		return 0, unix.ENOENT
	}
	var st unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, p, &st, 0); err != nil {
		return 0, err
	}
	if mode&wOK != 0 && !t.writable(p) {
		return 0, unix.EROFS
	}
	return 0, nil
}
