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

	// pteUserRWX is every user page: present, writable, executable. The
	// bits never change once set (see pageTable), so protection changes
	// are recorded in the VMA table only.
	pteUserRWX = ptePresent | pteWrite | pteUser | pteAccessed | pteDirty
	// pteTable is every non-leaf entry: the leaf decides.
	pteTable = ptePresent | pteWrite | pteUser | pteAccessed
)

// errPresentPTE means a request would change a present page-table entry,
// which the VMM never does (KVM-NOTES: the guest would keep the old
// translation under shadow paging).
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
// Its one rule: entries only ever go from not-present to present. An
// intermediate table, once linked, stays; a leaf, once set, keeps its
// target and flags for the life of the VM. Guest-virtual pages therefore
// have a fixed guest-physical binding, and munmap/mprotect never touch
// the tables.
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
// other change of a present leaf is errPresentPTE.
func (pt *pageTable) mapPage(gva, gpa, flags uint64) error {
	if !canonical(gva) || gva&pageMask != 0 || gpa&pageMask != 0 || gpa&^pteAddrMask != 0 {
		return fmt.Errorf("map %#x -> %#x: unaligned or non-canonical address", gva, gpa)
	}
	table := pt.root
	for level := 3; level > 0; level-- {
		entries := pt.mem.page(table)
		off := ptIndex(gva, level) * 8
		e := binary.LittleEndian.Uint64(entries[off:])
		if e&ptePresent == 0 {
			next, err := pt.mem.allocTable()
			if err != nil {
				return fmt.Errorf("allocate level-%d table for %#x: %w", level, gva, err)
			}
			pt.tables++
			e = next | pteTable
			binary.LittleEndian.PutUint64(entries[off:], e)
		}
		table = e & pteAddrMask
	}
	entries := pt.mem.page(table)
	off := ptIndex(gva, 0) * 8
	want := gpa | flags | ptePresent
	e := binary.LittleEndian.Uint64(entries[off:])
	if e&ptePresent != 0 {
		if e == want {
			return nil
		}
		return fmt.Errorf("map %#x -> %#x (flags %#x): %w (%#x)", gva, gpa, flags, errPresentPTE, e)
	}
	binary.LittleEndian.PutUint64(entries[off:], want)
	return nil
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
