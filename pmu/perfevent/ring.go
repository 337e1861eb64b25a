package perfevent

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorruptRing is wrapped by ring errors: a header or size that cannot
// be right (shorter than a header, not 8-byte aligned, past data_head).
// The reader skips everything up to data_head when it sees one.
var ErrCorruptRing = errors.New("corrupt perf ring buffer")

// ringMeta is the control part of the ring: the kernel's write position
// and the reader's read position. The live implementation loads
// data_head with acquire ordering and stores data_tail with release
// ordering, as perf_event.h asks; tests use an in-memory one.
type ringMeta interface {
	loadHead() uint64
	loadTail() uint64
	storeTail(uint64)
}

// ring walks the records of a perf ring buffer between data_tail and
// data_head. data is the data area (a power of two in size); positions
// are free-running byte counters, taken modulo its size. A record that
// wraps around the end of data is copied into scratch so the caller sees
// it contiguous.
type ring struct {
	meta    ringMeta
	data    []byte
	mask    uint64
	head    uint64 // last data_head loaded
	tail    uint64 // our position; published to data_tail by advance
	pending uint64 // size of the record next returned and not yet advanced
	scratch []byte
}

func newRing(meta ringMeta, data []byte) (*ring, error) {
	n := uint64(len(data))
	if n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("ring data size %d is not a power of two", n)
	}
	t := meta.loadTail()
	return &ring{meta: meta, data: data, mask: n - 1, head: t, tail: t}, nil
}

// next returns the next record, header included, or ok == false when the
// ring is empty. The bytes stay valid (the kernel does not overwrite
// them) until advance. Call advance before the next call to next.
func (r *ring) next() (rec []byte, ok bool, err error) {
	if r.tail == r.head {
		r.head = r.meta.loadHead()
		if r.tail == r.head {
			return nil, false, nil
		}
	}
	avail := r.head - r.tail
	if avail > uint64(len(r.data)) {
		return nil, false, fmt.Errorf("%w: data_head %d is %d bytes past data_tail %d, more than the ring's %d", ErrCorruptRing, r.head, avail, r.tail, len(r.data))
	}
	if avail < recordHeaderSize {
		return nil, false, fmt.Errorf("%w: %d bytes before data_head, less than a header", ErrCorruptRing, avail)
	}
	var hdr [recordHeaderSize]byte
	r.copyOut(hdr[:], r.tail)
	size := uint64(binary.LittleEndian.Uint16(hdr[6:]))
	switch {
	case size < recordHeaderSize || size%8 != 0:
		return nil, false, fmt.Errorf("%w: record of type %d has size %d", ErrCorruptRing, binary.LittleEndian.Uint32(hdr[:]), size)
	case size > avail:
		return nil, false, fmt.Errorf("%w: record of %d bytes runs past data_head (%d bytes available)", ErrCorruptRing, size, avail)
	}
	off := r.tail & r.mask
	r.pending = size
	if off+size <= uint64(len(r.data)) {
		return r.data[off : off+size], true, nil
	}
	if cap(r.scratch) < int(size) {
		r.scratch = make([]byte, size, 1<<16)
	}
	rec = r.scratch[:size]
	r.copyOut(rec, r.tail)
	return rec, true, nil
}

// copyOut copies len(dst) bytes starting at position pos, wrapping.
func (r *ring) copyOut(dst []byte, pos uint64) {
	off := pos & r.mask
	n := copy(dst, r.data[off:])
	copy(dst[n:], r.data)
}

// advance consumes the record next returned and tells the kernel the
// space is free.
func (r *ring) advance() {
	r.tail += r.pending
	r.pending = 0
	r.meta.storeTail(r.tail)
}

// skipAll drops everything up to the last loaded data_head, to resync
// after corruption.
func (r *ring) skipAll() {
	r.pending = 0
	r.tail = r.head
	r.meta.storeTail(r.tail)
}
