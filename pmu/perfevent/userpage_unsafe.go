package perfevent

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/vpmu/vpmu/internal/unix"
)

// livePage reads a perf_event_mmap_page mapped from a perf fd. Every load
// is atomic: on amd64 that is a plain MOV the compiler may not move, on
// arm64 a load-acquire, which together give the loop's barriers.
type livePage struct{ p *unix.PerfEventMmapPage }

func (l livePage) lock() uint32         { return atomic.LoadUint32(&l.p.Lock) }
func (l livePage) index() uint32        { return atomic.LoadUint32(&l.p.Index) }
func (l livePage) offset() int64        { return atomic.LoadInt64(&l.p.Offset) }
func (l livePage) timeEnabled() uint64  { return atomic.LoadUint64(&l.p.Time_enabled) }
func (l livePage) timeRunning() uint64  { return atomic.LoadUint64(&l.p.Time_running) }
func (l livePage) capabilities() uint64 { return atomic.LoadUint64(&l.p.Capabilities) }
func (l livePage) timeOffset() uint64   { return atomic.LoadUint64(&l.p.Time_offset) }
func (l livePage) timeCycles() uint64   { return atomic.LoadUint64(&l.p.Time_cycles) }
func (l livePage) timeMask() uint64     { return atomic.LoadUint64(&l.p.Time_mask) }

// widthShiftMult loads the 8-byte-aligned word at pmc_width: pmc_width
// (u16), time_shift (u16), time_mult (u32), little-endian.
func (l livePage) widthShiftMult() (width, shift uint16, mult uint32) {
	w := atomic.LoadUint64((*uint64)(unsafe.Pointer(&l.p.Pmc_width)))
	return uint16(w), uint16(w >> 16), uint32(w >> 32)
}

// mappedPage is one perf fd's first page, mapped read-only.
type mappedPage struct {
	mem  []byte
	page livePage
}

// mapUserPage maps the first page of a perf fd. The kernel keeps the
// page's seqlock-protected fields current for as long as the mapping
// lives.
func mapUserPage(fd int) (mappedPage, error) {
	size := os.Getpagesize()
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return mappedPage{}, fmt.Errorf("map user page of perf fd %d: %w", fd, os.NewSyscallError("mmap", err))
	}
	if uintptr(len(mem)) < unsafe.Offsetof(unix.PerfEventMmapPage{}.Data_head) {
		unix.Munmap(mem)
		return mappedPage{}, fmt.Errorf("map user page of perf fd %d: page of %d bytes is too small", fd, len(mem))
	}
	return mappedPage{mem: mem, page: livePage{(*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0]))}}, nil
}

func (m *mappedPage) unmap() error {
	if m.mem == nil {
		return nil
	}
	err := unix.Munmap(m.mem)
	m.mem, m.page = nil, livePage{}
	if err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}
