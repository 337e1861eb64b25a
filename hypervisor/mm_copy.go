package hypervisor

import (
	"bytes"
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// Guest-memory access for system-call handlers. Every handler that reads
// or writes guest memory goes through these: they check the VMA table
// (EFAULT for unmapped memory, memory without the needed protection, or
// addresses outside the program's address space, including the VMM
// area), then copy through the VMM's own GVA -> GPA bindings, never
// through the guest page tables.

const (
	protReadable = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC
	protWritable = unix.PROT_WRITE
)

// access calls f for each guest-physically contiguous piece of
// [addr, addr+n) after checking that the whole range is mapped with some
// bit of need. Called with mu held for reading.
func (m *MM) access(addr, n uint64, need int, f func(host []byte)) error {
	end := addr + n
	if end < addr || end > userTop {
		return unix.EFAULT
	}
	i, _ := m.vmas.find(addr)
	if i < 0 {
		return unix.EFAULT
	}
	for cur := addr; cur < end; i++ {
		if i >= len(m.vmas.v) || m.vmas.v[i].start > cur || m.vmas.v[i].prot&need == 0 {
			return unix.EFAULT
		}
		cur = m.vmas.v[i].end
	}
	for cur := addr; cur < end; {
		gpa, run, ok := m.binds.lookup(cur)
		if !ok {
			return unix.EFAULT // an accessible VMA is always bound; be safe anyway
		}
		k := min(run, end-cur)
		f(m.phys.bytes(gpa, k))
		cur += k
	}
	return nil
}

// CopyIn copies len(dst) bytes of guest memory at addr into dst. It
// returns EFAULT, copying nothing, if any byte is not readable.
func (m *MM) CopyIn(addr uint64, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	off := 0
	return m.access(addr, uint64(len(dst)), protReadable, func(h []byte) {
		off += copy(dst[off:], h)
	})
}

// CopyOut copies src into guest memory at addr. It returns EFAULT,
// copying nothing, if any byte is not writable.
func (m *MM) CopyOut(addr uint64, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	off := 0
	return m.access(addr, uint64(len(src)), protWritable, func(h []byte) {
		off += copy(h, src[off:])
	})
}

// ReadString reads a NUL-terminated string of at most max bytes
// (excluding the NUL) at addr: EFAULT if it runs into unreadable memory,
// ENAMETOOLONG if no NUL comes within max bytes.
func (m *MM) ReadString(addr uint64, max int) (string, error) {
	var out []byte
	for len(out) <= max {
		// Read up to the end of the page, so a string ending just
		// before an unmapped page is fine.
		chunk := pageSize - addr&pageMask
		buf := make([]byte, chunk)
		if err := m.CopyIn(addr, buf); err != nil {
			return "", err
		}
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			out = append(out, buf[:i]...)
			if len(out) > max {
				break
			}
			return string(out), nil
		}
		out = append(out, buf...)
		addr += chunk
	}
	return "", unix.ENAMETOOLONG
}

// ReadUint32 reads a little-endian 32-bit value.
func (m *MM) ReadUint32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := m.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// WriteUint32 writes a little-endian 32-bit value.
func (m *MM) WriteUint32(addr uint64, v uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return m.CopyOut(addr, b[:])
}

// ReadUint64 reads a little-endian 64-bit value.
func (m *MM) ReadUint64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := m.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// WriteUint64 writes a little-endian 64-bit value.
func (m *MM) WriteUint64(addr uint64, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return m.CopyOut(addr, b[:])
}

// poke writes data at addr ignoring protections (the pages must be
// bound): the loader uses it to fill read-only segments.
func (m *MM) poke(addr uint64, data []byte) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for len(data) > 0 {
		gpa, run, ok := m.binds.lookup(addr)
		if !ok {
			return unix.EFAULT
		}
		k := min(run, uint64(len(data)))
		copy(m.phys.bytes(gpa, k), data[:k])
		data = data[k:]
		addr += k
	}
	return nil
}
