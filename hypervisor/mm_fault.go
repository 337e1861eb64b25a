package hypervisor

import "encoding/binary"

// Page-fault error-code bits (the #PF error code pushed by the CPU).
const (
	pfPresent = 1 << 0 // the leaf was present: a protection violation
	pfWrite   = 1 << 1
	pfUser    = 1 << 2
	pfInstr   = 1 << 4 // an instruction fetch
)

// maxSpuriousFaults bounds how many page faults in a row on one VCPU are
// retried because the leaf allows the access by the time the VMM looks:
// past it the fault is delivered as a signal, so that a translation KVM
// never refreshes cannot loop forever.
const maxSpuriousFaults = 8

// permits reports whether the leaf PTE of addr now allows the user-mode
// access a page fault with errorCode describes. A fault the leaf allows
// raced with a mapping change on another thread (mmap over the page,
// mprotect adding access): retrying the instruction is what Linux does
// for such spurious faults.
func (m *MM) permits(addr, errorCode uint64) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if addr >= userTop {
		return false
	}
	slot := m.pt.leafSlot(pageDown(addr))
	if slot == nil {
		return false
	}
	e := binary.LittleEndian.Uint64(slot)
	switch {
	case e&ptePresent == 0 || e&pteUser == 0:
		return false
	case errorCode&pfWrite != 0 && e&pteWrite == 0:
		return false
	case errorCode&pfInstr != 0 && e&pteNX != 0:
		return false
	}
	return true
}
