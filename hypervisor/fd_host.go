package hypervisor

import (
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// hostFile is a guest fd backed by a host fd: a file or directory of the
// host file system opened for the guest. It is writable only when it was
// opened for writing through the sandbox's confined resolution (beneath
// a granted directory).
type hostFile struct {
	fileBase
	fd int
	// path is the real path when the file was opened: the name mmap
	// shows, and the base of *at calls relative to a directory. It is
	// set at open for directories and on first use (realPath) for the
	// rest, which saves a readlink per open.
	path     string
	pathOnce sync.Once
	// mode is st_mode at open.
	mode uint32
	// readable and writable follow the access mode; opath marks an
	// O_PATH fd (neither).
	readable, writable, opath bool
}

// newHostFile wraps a host fd opened with flags, whose struct stat is
// st (nil: fstat it).
func newHostFile(fd, flags int, st *unix.Stat_t) (*hostFile, error) {
	if st == nil {
		s, err := hostFstat(fd)
		if err != nil {
			return nil, err
		}
		st = &s
	}
	f := &hostFile{fd: fd, mode: st.Mode}
	if f.isDir() {
		p, err := hostRealPath(fd)
		if err != nil && err != unix.ENOENT {
			return nil, err
		}
		f.path = p
	}
	if flags&unix.O_PATH != 0 {
		f.opath = true
	} else {
		acc := flags & unix.O_ACCMODE
		f.readable = acc == unix.O_RDONLY || acc == unix.O_RDWR
		f.writable = acc == unix.O_WRONLY || acc == unix.O_RDWR
	}
	return f, nil
}

func (f *hostFile) isDir() bool { return f.mode&unix.S_IFMT == unix.S_IFDIR }

func (f *hostFile) Read(_ *Thread, dst guestBuf) (int, error) {
	if !f.readable {
		return 0, unix.EBADF
	}
	return dst.fill(hostRead(f.fd))
}

func (f *hostFile) Pread(_ *Thread, dst guestBuf, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if !f.readable {
		return 0, unix.EBADF
	}
	return dst.fill(hostPread(f.fd, &off))
}

func (f *hostFile) Write(_ *Thread, src guestBuf) (int, error) {
	if !f.writable {
		return 0, unix.EBADF
	}
	return src.drain(func(p []byte) (int, error) {
		for {
			n, err := unix.Write(f.fd, p)
			if err == unix.EINTR {
				continue
			}
			if n < 0 {
				n = 0
			}
			return n, err
		}
	})
}

func (f *hostFile) Pwrite(_ *Thread, src guestBuf, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if !f.writable {
		return 0, unix.EBADF
	}
	return src.drain(func(p []byte) (int, error) {
		for {
			n, err := unix.Pwrite(f.fd, p, off)
			if err == unix.EINTR {
				continue
			}
			if n < 0 {
				n = 0
			}
			off += int64(n)
			return n, err
		}
	})
}

func (f *hostFile) Seek(off int64, whence int) (int64, error) {
	if f.opath {
		return 0, unix.EBADF
	}
	return unix.Seek(f.fd, off, whence)
}

func (f *hostFile) Stat() (unix.Stat_t, error) { return hostFstat(f.fd) }

// Ioctl answers FIONREAD for regular files (the bytes from the offset to
// the end); everything else is not a terminal.
func (f *hostFile) Ioctl(t *Thread, req, arg uint64) (uint64, error) {
	if req == fionread && f.mode&unix.S_IFMT == unix.S_IFREG && !f.opath {
		st, err := hostFstat(f.fd)
		if err != nil {
			return 0, err
		}
		off, err := unix.Seek(f.fd, 0, 1)
		if err != nil {
			return 0, err
		}
		return 0, t.proc.mm.WriteUint32(arg, uint32(max(0, min(st.Size-off, 1<<31-1))))
	}
	return 0, unix.ENOTTY
}

func (f *hostFile) MmapSource() (fileSource, error) {
	if !f.readable {
		// mmap needs a readable fd (EACCES), as in Linux.
		return nil, unix.EACCES
	}
	return hostSource{f}, nil
}

func (f *hostFile) Close() error { return unix.Close(f.fd) }

// realPath returns the file's real path when it was opened (or first
// asked).
func (f *hostFile) realPath() string {
	f.pathOnce.Do(func() {
		if f.path == "" {
			f.path, _ = hostRealPath(f.fd)
		}
	})
	return f.path
}

func (f *hostFile) fdPath() string { return f.realPath() }

// hostSource reads a host file for mmap.
type hostSource struct{ f *hostFile }

func (s hostSource) Name() string { return s.f.realPath() }

func (s hostSource) ReadAt(p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		n, err := unix.Pread(s.f.fd, p[total:], off+int64(total))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
		total += n
	}
	return total, nil
}
