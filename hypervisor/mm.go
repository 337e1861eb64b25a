package hypervisor

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// Linux mmap flags the MM interprets beyond those in internal/unix.
const (
	mapTypeMask       = 0x0f
	mapSharedValidate = 0x03
	map32Bit          = 0x40
	mapFixedNoReplace = 0x100000
)

// MM is a guest address space: the VMA table (what the guest may access),
// the fixed GVA -> GPA bindings with the page tables that realise them,
// and guest-physical memory. docs/hypervisor.md explains the rules; in
// short, pages are bound and mapped eagerly when a range first becomes
// accessible, a bound page is never re-targeted, leaves follow the VMA's
// protection (mprotect) and are cleared by munmap, and unmapping gives
// the host backing back so the page reads as zero when mapped again.
//
// All methods are safe for concurrent use. Guest-memory copies hold the
// read lock; mapping changes hold the write lock.
type MM struct {
	mu    sync.RWMutex
	phys  *physMem
	pt    *pageTable
	binds bindings
	vmas  vmaSet

	// committed is the accessible (non-PROT_NONE) bytes mapped; limit
	// caps it (0: no cap).
	committed, limit uint64

	// brkStart is where the heap starts, brk its current end (not page
	// aligned); the heap VMA covers [brkStart, pageUp(brk)).
	brkStart, brk uint64
	// mmapBase is where top-down allocation starts.
	mmapBase uint64

	stats struct {
		// invalidations counts physMem.invalidate calls (protection
		// taken away from present pages).
		invalidations uint64
	}
}

// newMM creates an address space with size bytes of guest-physical
// memory and a cap of limit committed bytes (0: no cap).
func newMM(physSize, limit uint64, addSlot slotAdder) (*MM, error) {
	phys, err := newPhysMem(physSize, addSlot)
	if err != nil {
		return nil, err
	}
	pt, err := newPageTable(phys)
	if err != nil {
		phys.close()
		return nil, err
	}
	return &MM{phys: phys, pt: pt, limit: limit, mmapBase: defaultMmapBase}, nil
}

// close releases guest-physical memory. The VM must be gone.
func (m *MM) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phys.close()
}

// CR3 returns the guest-physical address of the top-level page table.
func (m *MM) CR3() uint64 { return m.pt.root }

func pageDown(a uint64) uint64 { return a &^ pageMask }

// pageUp rounds a up to a page boundary; ok is false on overflow.
func pageUp(a uint64) (uint64, bool) {
	r := (a + pageMask) &^ pageMask
	return r, r >= a
}

// bindRange gives every unbound page of [lo, hi) a guest-physical page
// and, if flags has ptePresent, a leaf PTE with flags; without it the
// pages are bound with no PTE (a PROT_NONE file mapping holds its
// contents that way). Called with mu held.
func (m *MM) bindRange(lo, hi, flags uint64) error {
	return m.binds.unbound(lo, hi, func(s, e uint64) error {
		n := (e - s) / pageSize
		gpa, err := m.phys.alloc(n)
		if err != nil {
			return err
		}
		if flags&ptePresent != 0 {
			for i := uint64(0); i < n; i++ {
				if err := m.pt.mapPage(s+i*pageSize, gpa+i*pageSize, flags); err != nil {
					return err
				}
			}
		}
		m.binds.add(s, gpa, n)
		return nil
	})
}

// protPTE returns the leaf flags of a user page with VMA protection
// prot: none for PROT_NONE (not present), else present and user, W for
// PROT_WRITE, NX without PROT_EXEC (EFER.NXE is on). x86 cannot express
// write-only or execute-only pages; they are readable, as on Linux.
func protPTE(prot int) uint64 {
	if prot&protMask == 0 {
		return 0
	}
	f := uint64(ptePresent | pteUser | pteAccessed)
	if prot&unix.PROT_WRITE != 0 {
		f |= pteWrite | pteDirty
	}
	if prot&unix.PROT_EXEC == 0 {
		f |= pteNX
	}
	return f
}

// mapRange gives the pages of [lo, hi) the leaf flags (protPTE): it
// binds the unbound pages first if bind is set, sets the leaves of the
// bound ones, and makes the VCPUs drop the translations that lost access
// (one host call per run of such pages). Called with mu held.
func (m *MM) mapRange(lo, hi, flags uint64, bind bool) error {
	if bind {
		if err := m.bindRange(lo, hi, 0); err != nil {
			return err
		}
	}
	return m.binds.bound(lo, hi, func(gva, gpa, n uint64) error {
		// [first, last] are the pages of this run that lost access.
		first, last := n, uint64(0)
		for i := uint64(0); i < n; i++ {
			old, err := m.pt.setLeaf(gva+i*pageSize, gpa+i*pageSize, flags)
			if err != nil {
				return err
			}
			if lostAccess(old, gpa+i*pageSize|flags) {
				first, last = min(first, i), i
			}
		}
		if first > last {
			return nil
		}
		m.stats.invalidations++
		return m.phys.invalidate(gpa+first*pageSize, last-first+1)
	})
}

// resetLeaves sets the leaves of the bound pages of [lo, hi) from the
// VMA table again, after a change that failed half-way, so that guest
// code never reaches more than the table allows. Called with mu held.
func (m *MM) resetLeaves(lo, hi uint64) {
	m.binds.bound(lo, hi, func(gva, gpa, n uint64) error {
		for i := uint64(0); i < n; i++ {
			var flags uint64
			if j, _ := m.vmas.find(gva + i*pageSize); j >= 0 {
				flags = protPTE(m.vmas.v[j].prot)
			}
			if old, err := m.pt.setLeaf(gva+i*pageSize, gpa+i*pageSize, flags); err == nil && lostAccess(old, gpa+i*pageSize|flags) {
				m.phys.invalidate(gpa+i*pageSize, 1)
			}
		}
		return nil
	})
}

// releaseRange gives back the host backing of the bound pages of
// [lo, hi): they read as zero from now on. Their leaves stay as they are
// (MADV_DONTNEED). Called with mu held.
func (m *MM) releaseRange(lo, hi uint64) error {
	return m.binds.bound(lo, hi, func(_, gpa, n uint64) error { return m.phys.release(gpa, n) })
}

// unbindRange clears the leaves of the bound pages of [lo, hi) and gives
// back their host backing: a guest access faults from now on, and the
// pages read as zero when mapped again. The release fires KVM's MMU
// notifier after the leaves are cleared, so no VCPU keeps a translation.
// Called with mu held.
func (m *MM) unbindRange(lo, hi uint64) error {
	return m.binds.bound(lo, hi, func(gva, gpa, n uint64) error {
		for i := uint64(0); i < n; i++ {
			if _, err := m.pt.setLeaf(gva+i*pageSize, gpa+i*pageSize, 0); err != nil {
				return err
			}
		}
		return m.phys.release(gpa, n)
	})
}

// hostBytes returns the host view of [gva, gva+n), which must be bound
// and contiguous in guest-physical memory (true inside one VMM-area
// object, or within a page). Called with mu held (either mode).
func (m *MM) hostBytes(gva, n uint64) ([]byte, error) {
	gpa, run, ok := m.binds.lookup(gva)
	if !ok || run < n {
		return nil, fmt.Errorf("guest address %#x+%d is not bound contiguously", gva, n)
	}
	return m.phys.bytes(gpa, n), nil
}

// mapVMM binds [gva, gva+len(data)) in the VMM area with the given PTE
// flags and copies data there. Used once per object at VM set-up.
func (m *MM) mapVMM(gva uint64, size uint64, flags uint64, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	end, _ := pageUp(gva + size)
	if err := m.bindRange(gva, end, flags); err != nil {
		return fmt.Errorf("map VMM area %#x: %w", gva, err)
	}
	b, err := m.hostBytes(gva, uint64(len(data)))
	if err != nil {
		return err
	}
	copy(b, data)
	return nil
}

// fileSource is the content of a file mapping.
type fileSource interface {
	io.ReaderAt
	// Name is shown for the mapping (the path).
	Name() string
}

// errno converts MM errors to what a system call returns.
func mmErrno(err error) error {
	var e unix.Errno
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, errPhysExhausted):
		return unix.ENOMEM
	default:
		return err
	}
}

// Stats is a snapshot of an address space's size.
type MMStats struct {
	// Committed is the bytes of accessible mappings (what --mem caps).
	Committed uint64
	// Limit is the cap on Committed, 0 for none.
	Limit uint64
	// BoundPages is how many guest-virtual pages have a guest-physical
	// page (they never lose it).
	BoundPages uint64
	// PhysUsed and PhysCapacity are guest-physical bytes handed out
	// (bound pages plus page tables) and reserved.
	PhysUsed, PhysCapacity uint64
	// VMAs is the number of mappings.
	VMAs int
	// Invalidations counts the runs of pages whose translations the
	// VCPUs were made to drop because mprotect or mmap took access away
	// (munmap's releases are not counted).
	Invalidations uint64
}

// Stats returns the current sizes.
func (m *MM) Stats() MMStats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return MMStats{
		Committed:    m.committed,
		Limit:        m.limit,
		BoundPages:   m.binds.pages(),
		PhysUsed:     m.phys.allocated(),
		PhysCapacity: m.phys.capacity(),
		VMAs:         len(m.vmas.v),

		Invalidations: m.stats.invalidations,
	}
}
