package hypervisor

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Page-table entry bits (x86-64 4-level paging).
const (
	ptePresent  = 1 << 0
	pteWrite    = 1 << 1
	pteUser     = 1 << 2
	pteAccessed = 1 << 5
	pteDirty    = 1 << 6
	pteNX       = 1 << 63
	pteAddrMask = 0x000f_ffff_ffff_f000

	// pteUserRWX is a user page that is readable, writable and
	// executable; protPTE gives the leaf of each VMA protection.
	pteUserRWX = ptePresent | pteWrite | pteUser | pteAccessed | pteDirty
	// pteTable is every non-leaf entry: the leaf decides.
	pteTable = ptePresent | pteWrite | pteUser | pteAccessed
)

// errPresentPTE means a request would re-target a present page-table
// entry, which the VMM never does: a guest-virtual page keeps its
// guest-physical page for the life of the VM (see pageTable).
var errPresentPTE = errors.New("page-table entry already present with another target")

// ptMemory is what the page-table builder needs from guest-physical
// memory.
type ptMemory interface {
	// page returns the host view of the 4 KiB page at gpa.
	page(gpa uint64) []byte
	// allocTable returns the GPA of a fresh zeroed page.
	allocTable() (uint64, error)
}

// pageTable builds 4-level x86-64 page tables in guest-physical memory.
//
// Its rules: an intermediate table, once linked, stays; a leaf, once
// set, keeps its target for the life of the VM, so guest-virtual pages
// have a fixed guest-physical binding. A leaf's flags do change: munmap
// clears it and mprotect sets its W, NX and present bits (protPTE). A
// change from the host side is invisible to VCPUs that cached the old
// translation (KVM-NOTES: under PVM's shadow paging even KVM_SET_SREGS
// does not help), so every change that takes access away is followed by
// firing KVM's MMU notifier on the host pages the leaves point to
// (physMem.invalidate, physMem.release): KVM then zaps its translations
// of those guest-physical pages on every VCPU, and the next access walks
// the updated tables. Changes that only add access (not present to
// present, read-only to writable) need nothing: KVM walks the guest
// tables on the fault the stale, narrower translation raises.
//
// pageTable is not safe for concurrent use; the MM's lock protects it.
type pageTable struct {
	mem  ptMemory
	root uint64 // GPA of the PML4, the guest's CR3
	// tables counts table pages, for statistics.
	tables int
}

func newPageTable(mem ptMemory) (*pageTable, error) {
	root, err := mem.allocTable()
	if err != nil {
		return nil, fmt.Errorf("allocate PML4: %w", err)
	}
	return &pageTable{mem: mem, root: root, tables: 1}, nil
}

// ptIndex returns the table index of gva at level (3 = PML4 ... 0 = PT).
func ptIndex(gva uint64, level int) uint64 { return gva >> (pageShift + 9*uint(level)) & 0x1ff }

// canonical reports whether gva is a canonical 48-bit address.
func canonical(gva uint64) bool {
	top := gva >> 47
	return top == 0 || top == 0x1ffff
}

// mapPage makes the page at gva translate to the page at gpa with leaf
// flags. Mapping a page again to the same gpa and flags is a no-op; any
// other change of a present leaf is errPresentPTE (setLeaf changes
// flags).
func (pt *pageTable) mapPage(gva, gpa, flags uint64) error {
	slot, err := pt.leafFor(gva, gpa)
	if err != nil {
		return fmt.Errorf("map %#x -> %#x: %w", gva, gpa, err)
	}
	want := gpa | flags | ptePresent
	e := binary.LittleEndian.Uint64(slot)
	if e&ptePresent != 0 {
		if e == want {
			return nil
		}
		return fmt.Errorf("map %#x -> %#x (flags %#x): %w (%#x)", gva, gpa, flags, errPresentPTE, e)
	}
	binary.LittleEndian.PutUint64(slot, want)
	return nil
}

// setLeaf sets the leaf of gva to gpa with flags, or clears it if flags
// lack ptePresent, and returns the entry it replaced. A present leaf may
// change its flags but never its target (errPresentPTE): the binding is
// fixed. The caller must make the VCPUs see a present leaf that lost
// access (lostAccess) by firing KVM's MMU notifier on the page it
// targets (physMem.invalidate or release).
func (pt *pageTable) setLeaf(gva, gpa, flags uint64) (old uint64, err error) {
	if flags&ptePresent == 0 {
		slot := pt.leafSlot(gva)
		if slot == nil {
			return 0, nil
		}
		old = binary.LittleEndian.Uint64(slot)
		if old&ptePresent != 0 && old&pteAddrMask != gpa {
			return old, fmt.Errorf("clear %#x -> %#x: %w (%#x)", gva, gpa, errPresentPTE, old)
		}
		binary.LittleEndian.PutUint64(slot, 0)
		return old, nil
	}
	slot, err := pt.leafFor(gva, gpa)
	if err != nil {
		return 0, fmt.Errorf("map %#x -> %#x: %w", gva, gpa, err)
	}
	old = binary.LittleEndian.Uint64(slot)
	if old&ptePresent != 0 && old&pteAddrMask != gpa {
		return old, fmt.Errorf("map %#x -> %#x (flags %#x): %w (%#x)", gva, gpa, flags, errPresentPTE, old)
	}
	binary.LittleEndian.PutUint64(slot, gpa|flags)
	return old, nil
}

// lostAccess reports whether replacing leaf old with leaf new takes some
// access away: then the VCPUs' cached translations must go.
func lostAccess(old, new uint64) bool {
	if old&ptePresent == 0 {
		return false
	}
	return new&ptePresent == 0 ||
		old&pteWrite != 0 && new&pteWrite == 0 ||
		old&pteUser != 0 && new&pteUser == 0 ||
		old&pteNX == 0 && new&pteNX != 0
}

// leafFor returns the host view of the leaf entry of gva, creating the
// intermediate tables on the way.
func (pt *pageTable) leafFor(gva, gpa uint64) ([]byte, error) {
	if !canonical(gva) || gva&pageMask != 0 || gpa&pageMask != 0 || gpa&^pteAddrMask != 0 {
		return nil, errors.New("unaligned or non-canonical address")
	}
	table := pt.root
	for level := 3; level > 0; level-- {
		entries := pt.mem.page(table)
		off := ptIndex(gva, level) * 8
		e := binary.LittleEndian.Uint64(entries[off:])
		if e&ptePresent == 0 {
			next, err := pt.mem.allocTable()
			if err != nil {
				return nil, fmt.Errorf("allocate level-%d table: %w", level, err)
			}
			pt.tables++
			e = next | pteTable
			binary.LittleEndian.PutUint64(entries[off:], e)
		}
		table = e & pteAddrMask
	}
	off := ptIndex(gva, 0) * 8
	return pt.mem.page(table)[off : off+8], nil
}

// translate walks the tables for gva, as the CPU would, and returns the
// leaf entry. It is for tests and diagnostics; the VMM's hot paths use
// the binding table instead.
func (pt *pageTable) translate(gva uint64) (pte uint64, ok bool) {
	if !canonical(gva) {
		return 0, false
	}
	table := pt.root
	for level := 3; level >= 0; level-- {
		e := binary.LittleEndian.Uint64(pt.mem.page(table)[ptIndex(gva, level)*8:])
		if e&ptePresent == 0 {
			return 0, false
		}
		if level == 0 {
			return e, true
		}
		table = e & pteAddrMask
	}
	return 0, false
}

// leafSlot returns the host view of the leaf entry of gva, or nil if an
// intermediate table is missing (the page was never mapped).
func (pt *pageTable) leafSlot(gva uint64) []byte {
	if !canonical(gva) {
		return nil
	}
	table := pt.root
	for level := 3; level > 0; level-- {
		e := binary.LittleEndian.Uint64(pt.mem.page(table)[ptIndex(gva, level)*8:])
		if e&ptePresent == 0 {
			return nil
		}
		table = e & pteAddrMask
	}
	off := ptIndex(gva, 0) * 8
	return pt.mem.page(table)[off : off+8]
}
