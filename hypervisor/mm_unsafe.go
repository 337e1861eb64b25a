package hypervisor

import (
	"sync/atomic"
	"unsafe"

	"github.com/vpmu/vpmu/internal/unix"
)

// atomicLoad32 loads the aligned 32-bit word at addr atomically, as the
// guest's other VCPUs may be writing it (futex words). EFAULT unless the
// word is readable guest memory.
func (m *MM) atomicLoad32(addr uint64) (uint32, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var p *uint32
	err := m.access(addr, 4, protReadable, func(h []byte) {
		p = (*uint32)(unsafe.Pointer(unsafe.SliceData(h)))
	})
	if err != nil {
		return 0, err
	}
	if p == nil {
		return 0, unix.EFAULT
	}
	return atomic.LoadUint32(p), nil
}
