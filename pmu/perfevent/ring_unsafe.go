package perfevent

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/vpmu/vpmu/internal/unix"
)

// liveRingMeta is the control page of a mapped ring. Go's atomic load is
// an acquire on every architecture (a plain MOV on amd64, LDAR on arm64)
// and its atomic store a release (XCHG, STLR): the smp_rmb() after
// reading data_head and the smp_mb() before writing data_tail that
// perf_event.h asks of user space.
type liveRingMeta struct{ page *unix.PerfEventMmapPage }

func (m liveRingMeta) loadHead() uint64   { return atomic.LoadUint64(&m.page.Data_head) }
func (m liveRingMeta) loadTail() uint64   { return atomic.LoadUint64(&m.page.Data_tail) }
func (m liveRingMeta) storeTail(t uint64) { atomic.StoreUint64(&m.page.Data_tail, t) }

// mappedRing is a perf fd's mapping: the control page followed by
// 2^n data pages.
type mappedRing struct {
	mem  []byte
	meta liveRingMeta
	data []byte
}

// mapRing maps the control page and dataPages pages of data, read-write
// so that the kernel honours data_tail and never overwrites unread
// records (it drops them and reports PERF_RECORD_LOST instead).
func mapRing(fd, dataPages int) (*mappedRing, error) {
	ps := os.Getpagesize()
	mem, err := unix.Mmap(fd, 0, (1+dataPages)*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map ring of %d data pages on perf fd %d: %w", dataPages, fd, os.NewSyscallError("mmap", err))
	}
	page := (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0]))
	off, size := atomic.LoadUint64(&page.Data_offset), atomic.LoadUint64(&page.Data_size)
	if off == 0 { // kernels before 4.1 do not fill these in
		off, size = uint64(ps), uint64(dataPages*ps)
	}
	if off+size > uint64(len(mem)) {
		unix.Munmap(mem)
		return nil, fmt.Errorf("map ring on perf fd %d: data at %d+%d beyond the %d-byte mapping", fd, off, size, len(mem))
	}
	return &mappedRing{mem: mem, meta: liveRingMeta{page}, data: mem[off : off+size]}, nil
}

func (m *mappedRing) unmap() error {
	if m.mem == nil {
		return nil
	}
	err := unix.Munmap(m.mem)
	m.mem, m.data, m.meta = nil, nil, liveRingMeta{}
	if err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}
