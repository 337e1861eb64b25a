package perfevent

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/vpmu/vpmu/internal/unix"
)

// loadWidthShiftMult loads the 8-byte-aligned word at pmc_width in one
// atomic load: pmc_width (u16), time_shift (u16), time_mult (u32),
// little-endian.
func loadWidthShiftMult(p *unix.PerfEventMmapPage) (width, shift uint16, mult uint32) {
	w := atomic.LoadUint64((*uint64)(unsafe.Pointer(&p.Pmc_width)))
	return uint16(w), uint16(w >> 16), uint32(w >> 32)
}

// mappedPage is one perf fd's first page, mapped read-only.
type mappedPage struct {
	mem  []byte
	page *unix.PerfEventMmapPage
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
	return mappedPage{mem: mem, page: (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0]))}, nil
}

func (m *mappedPage) unmap() error {
	if m.mem == nil {
		return nil
	}
	err := unix.Munmap(m.mem)
	m.mem, m.page = nil, nil
	if err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}
