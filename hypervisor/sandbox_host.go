package hypervisor

import (
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// Host-side helpers of path resolution: O_PATH lookups without magic
// links, real paths of host fds, reopening an O_PATH fd, and the checks
// that keep the VMM's own /proc entries from the guest.

// hostOpenPath opens path relative to dirfd as an O_PATH fd (plus extra
// flags: O_NOFOLLOW, O_DIRECTORY), refusing /proc magic links (ELOOP):
// the guest's /proc/self is emulated, and the VMM's must never be
// reached.
func hostOpenPath(dirfd int, p string, extra int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(unix.O_PATH | unix.O_CLOEXEC | extra),
		Resolve: unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(dirfd, p, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openBeneath opens p relative to the directory fd root, confined
// beneath it: the kernel refuses (EXDEV) any ".." or symlink that would
// leave it, and every magic link.
func openBeneath(root int, p string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
		how.Mode = uint64(mode & 0o7777)
	}
	for {
		fd, err := unix.Openat2(root, p, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// fdMagic is the VMM's own /proc path of its host fd.
func fdMagic(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// hostRealPath returns the real path of a host fd (what the kernel's
// d_path says). ENOENT if the file was deleted; the path of something
// that is not a file (a pipe, an anonymous inode) is returned as is.
func hostRealPath(fd int) (string, error) {
	b := make([]byte, 4096)
	for {
		n, err := unix.Readlinkat(unix.AT_FDCWD, fdMagic(fd), b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", err
		}
		if n == len(b) {
			return "", unix.ENAMETOOLONG
		}
		p := string(b[:n])
		if strings.HasSuffix(p, " (deleted)") && strings.HasPrefix(p, "/") {
			return strings.TrimSuffix(p, " (deleted)"), unix.ENOENT
		}
		return p, nil
	}
}

// hostReopen opens the file an O_PATH fd refers to, with flags, through
// the VMM's own /proc/self/fd: no path lookup happens again, so the file
// cannot be swapped in between.
func hostReopen(fd, flags int) (int, error) {
	for {
		nfd, err := unix.Openat(unix.AT_FDCWD, fdMagic(fd), flags|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return nfd, err
		}
	}
}

// hostFstat stats a host fd.
func hostFstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(fd, &st)
	return st, err
}

// procDev is the device number of the host's /proc, to recognise files
// that live there (0 if /proc is missing).
var procDev = sync.OnceValue(func() uint64 {
	var st unix.Stat_t
	if unix.Fstatat(unix.AT_FDCWD, "/proc", &st, 0) != nil {
		return 0
	}
	return st.Dev
})

// vmmPID is the VMM's own process id.
var vmmPID = sync.OnceValue(os.Getpid)

// hiddenProcPath reports whether the real path p, of a file on the
// host's /proc, belongs to the VMM's own process (its pid or any of its
// thread ids) or is a host file the guest must not read (kernel memory,
// the kernel log, which a read consumes).
func hiddenProcPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(rest, "/")
	switch first {
	case "kcore", "kmsg", "kpagecount", "kpageflags", "kpagecgroup", "self", "thread-self":
		return true
	}
	n, err := strconv.Atoi(first)
	if err != nil || n <= 0 {
		return false
	}
	if n == vmmPID() {
		return true
	}
	var st unix.Stat_t
	return unix.Fstatat(unix.AT_FDCWD, "/proc/self/task/"+first, &st, 0) == nil
}

// lexJoin returns the clean absolute path of p relative to base.
func lexJoin(base, p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Clean(base + "/" + p)
}

// splitLast splits a guest path into the part that names the parent
// directory and the final component, as the kernel's last-component
// lookup does. Trailing slashes are dropped and reported. A final "."
// or ".." (or a path of slashes) names a directory itself: then parent is
// the whole path, name is "." and dot is the original component.
func splitLast(p string) (parent, name, dot string, trailing bool) {
	trimmed := strings.TrimRight(p, "/")
	trailing = len(trimmed) < len(p)
	if trimmed == "" {
		return "/", ".", ".", trailing
	}
	i := strings.LastIndexByte(trimmed, '/')
	switch {
	case i < 0:
		parent, name = ".", trimmed
	case i == 0:
		parent, name = "/", trimmed[1:]
	default:
		parent, name = trimmed[:i], trimmed[i+1:]
	}
	if name == "." || name == ".." {
		return trimmed, ".", name, trailing
	}
	return parent, name, "", trailing
}
