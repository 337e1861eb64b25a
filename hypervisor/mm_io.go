package hypervisor

import (
	"io"

	"github.com/vpmu/vpmu/internal/unix"
)

// guestBuf is a range of guest memory that a file reads into or writes
// from, without an intermediate copy: the file gets the host views of
// the guest pages, piece by piece.
type guestBuf struct {
	mm   *MM
	addr uint64
	n    uint64
	// host, if not nil, is a VMM buffer of length n used instead of
	// guest memory (sendfile's bounce buffer).
	host []byte
}

// hostBuf is a guestBuf over VMM memory.
func hostBuf(b []byte) guestBuf { return guestBuf{n: uint64(len(b)), host: b} }

// advance returns the buffer without its first k bytes.
func (b guestBuf) advance(k uint64) guestBuf {
	k = min(k, b.n)
	if b.host != nil {
		return hostBuf(b.host[k:])
	}
	return guestBuf{mm: b.mm, addr: b.addr + k, n: b.n - k}
}

// Len returns the buffer's length.
func (b guestBuf) Len() int { return int(b.n) }

// fill calls read with successive pieces of the buffer (host views of
// guest memory, writable) until it returns an error, a short count or the
// buffer is full, and returns the total read. EFAULT, before any read,
// if the buffer is not writable guest memory. read must not keep the
// slice.
func (b guestBuf) fill(read func(p []byte) (int, error)) (int, error) {
	return b.pieces(protWritable, read)
}

// drain calls write with successive pieces of the buffer until it
// returns an error or a short count, and returns the total written.
// EFAULT, before any write, if the buffer is not readable guest memory.
func (b guestBuf) drain(write func(p []byte) (int, error)) (int, error) {
	return b.pieces(protReadable, write)
}

func (b guestBuf) pieces(need int, f func(p []byte) (int, error)) (int, error) {
	if b.n == 0 {
		return 0, nil
	}
	if b.host != nil {
		n, err := f(b.host)
		if err == io.EOF {
			err = nil
		}
		return n, err
	}
	b.mm.mu.RLock()
	defer b.mm.mu.RUnlock()
	var parts [][]byte
	if err := b.mm.access(b.addr, b.n, need, func(h []byte) { parts = append(parts, h) }); err != nil {
		return 0, err
	}
	total := 0
	for _, p := range parts {
		n, err := f(p)
		total += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		if n < len(p) {
			break
		}
	}
	return total, nil
}

// hostRead adapts a host read on fd to fill.
func hostRead(fd int) func(p []byte) (int, error) {
	return func(p []byte) (int, error) {
		for {
			n, err := unix.Read(fd, p)
			if err == unix.EINTR {
				continue
			}
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// hostPread adapts a host pread at *off (advanced) to fill.
func hostPread(fd int, off *int64) func(p []byte) (int, error) {
	return func(p []byte) (int, error) {
		for {
			n, err := unix.Pread(fd, p, *off)
			if err == unix.EINTR {
				continue
			}
			if n > 0 {
				*off += int64(n)
			} else {
				n = 0
			}
			return n, err
		}
	}
}
