package hypervisor

import (
	"github.com/vpmu/vpmu/internal/unix"
)

// hostFile is a guest fd backed by a host fd: a file of the host file
// system opened for the guest (read-only outside Config.RWDirs).
type hostFile struct {
	fileBase
	fd       int
	path     string // absolute host path, for mmap names and *at calls
	writable bool
}

func (f *hostFile) Read(_ *Thread, dst guestBuf) (int, error) { return dst.fill(hostRead(f.fd)) }

func (f *hostFile) Pread(_ *Thread, dst guestBuf, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
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

func (f *hostFile) Seek(off int64, whence int) (int64, error) { return unix.Seek(f.fd, off, whence) }

func (f *hostFile) Stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(f.fd, &st)
	return st, err
}

func (f *hostFile) MmapSource() (fileSource, error) { return hostSource{f}, nil }

func (f *hostFile) Close() error { return unix.Close(f.fd) }

// hostSource reads a host file for mmap.
type hostSource struct{ f *hostFile }

func (s hostSource) Name() string { return s.f.path }

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
