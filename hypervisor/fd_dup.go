package hypervisor

import (
	"os"
	"strconv"
	"strings"

	"github.com/vpmu/vpmu/internal/unix"
)

// fdTable operations beyond install/get/close: dup2/dup3, close_range,
// the close-on-exec flag, and the working directory.

// dupTo makes newfd refer to of (a reference from get, which it
// consumes), closing what newfd referred to, atomically as dup2 does.
func (t *fdTable) dupTo(of *openFile, newfd int, cloexec bool) (uint64, error) {
	if newfd < 0 || newfd >= maxFDs {
		of.decRef()
		return 0, unix.EBADF
	}
	t.mu.Lock()
	old, had := t.fds[newfd]
	t.fds[newfd] = fdEntry{file: of, cloexec: cloexec}
	t.mu.Unlock()
	if had {
		old.file.decRef()
	}
	return uint64(newfd), nil
}

// closeRange closes the fds in [first, last], or with cloexec only sets
// their close-on-exec flag (close_range(2)).
func (t *fdTable) closeRange(first, last int, cloexec bool) {
	t.mu.Lock()
	var gone []*openFile
	for fd, e := range t.fds {
		if fd < first || fd > last {
			continue
		}
		if cloexec {
			e.cloexec = true
			t.fds[fd] = e
			continue
		}
		delete(t.fds, fd)
		gone = append(gone, e.file)
	}
	t.mu.Unlock()
	for _, f := range gone {
		f.decRef()
	}
}

// cloexec reports fd's close-on-exec flag (EBADF if fd is not open).
func (t *fdTable) cloexec(fd int) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.fds[fd]
	if !ok {
		return false, unix.EBADF
	}
	return e.cloexec, nil
}

// setCloexec sets fd's close-on-exec flag.
func (t *fdTable) setCloexec(fd int, on bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.fds[fd]
	if !ok {
		return unix.EBADF
	}
	e.cloexec = on
	t.fds[fd] = e
	return nil
}

// list returns the open fds, in no particular order.
func (t *fdTable) list() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	fds := make([]int, 0, len(t.fds))
	for fd := range t.fds {
		fds = append(fds, fd)
	}
	return fds
}

// getCwd returns the working directory with a reference held; the
// caller must decRef it.
func (t *fdTable) getCwd() *openFile {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cwd.refs.Add(1)
	return t.cwd
}

// setCwd makes of (a reference, which it consumes) the working
// directory.
func (t *fdTable) setCwd(of *openFile) {
	t.mu.Lock()
	old := t.cwd
	t.cwd = of
	t.mu.Unlock()
	if old != nil {
		old.decRef()
	}
}

// chdirInitial opens dir on the host as the first working directory.
func (t *fdTable) chdirInitial(dir string) error {
	fd, err := hostOpenPath(unix.AT_FDCWD, dir, unix.O_DIRECTORY)
	if err != nil {
		return &os.PathError{Op: "working directory", Path: dir, Err: err}
	}
	f, err := newHostFile(fd, unix.O_PATH, nil)
	if err != nil {
		unix.Close(fd)
		return &os.PathError{Op: "working directory", Path: dir, Err: err}
	}
	of := &openFile{File: f}
	of.refs.Store(1)
	of.flags.Store(unix.O_PATH)
	t.setCwd(of)
	return nil
}

// hostUmask reads the VMM's umask (without changing it, which would race
// with other threads), the guest's initial umask.
func hostUmask() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o022
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(m)
			}
		}
	}
	return 0o022
}
