package hypervisor

import (
	"bytes"
	"errors"

	"github.com/vpmu/vpmu/internal/unix"
)

// mremap(2) flags.
const (
	mremapMaymove   = 1
	mremapFixed     = 2
	mremapDontunmap = 4
)

// linuxTaskSize is Linux's TASK_SIZE on x86-64 (4-level paging), against
// which mremap checks ranges before the VMM's own, smaller userTop.
const linuxTaskSize = 0x7fff_ffff_f000

// unmapTail unmaps [lo, hi) for mremap as Linux's do_munmap would:
// EINVAL past TASK_SIZE; the part above userTop holds nothing to unmap.
// Called with mu held.
func (m *MM) unmapTail(lo, hi uint64) error {
	if hi < lo || hi > linuxTaskSize {
		return unix.EINVAL
	}
	if lo >= min(hi, userTop) {
		return nil
	}
	return mmErrno(m.unmapLocked(lo, min(hi, userTop)))
}

// errMremapUnsupported is a remap Linux performs that the VMM cannot:
// a duplicate of a shared mapping (old size 0) and MREMAP_DONTUNMAP of a
// shared mapping would make two guest-virtual pages share one page;
// MREMAP_DONTUNMAP of a file mapping, and growing one, would read the
// file again, which the VMM no longer holds (rather than zeros where the
// guest expects the file's data). The
// guest gets EINVAL; the system call is reported as unimplemented so
// that the refusal shows in the VM's stats.
var errMremapUnsupported = &mremapUnsupportedError{}

type mremapUnsupportedError struct{}

func (*mremapUnsupportedError) Error() string {
	return "mremap would share pages between two ranges or re-read a file (not supported)"
}

func (*mremapUnsupportedError) Unwrap() error { return unix.EINVAL }

// errMremapOverCap is ENOMEM because the commit cap (--mem) would be
// exceeded, told apart from the other ENOMEMs so that only it is
// reported as a refusal by the cap.
var errMremapOverCap = &mremapOverCapError{}

type mremapOverCapError struct{}

func (*mremapOverCapError) Error() string { return "mremap would exceed the memory cap" }

func (*mremapOverCapError) Unwrap() error { return unix.ENOMEM }

// Mremap implements mremap(2) as Linux's mm/mremap.c does: it shrinks a
// mapping in place, grows it in place when the pages after it are free,
// and otherwise, with MREMAP_MAYMOVE, moves it to a free range (or to
// newAddr with MREMAP_FIXED, replacing what is there), leaving the old
// range mapped and reading as zero with MREMAP_DONTUNMAP. It returns the
// mapping's address or an errno: EINVAL for unknown flags, FIXED or
// DONTUNMAP without MAYMOVE, DONTUNMAP that resizes, an unaligned address,
// a new size of 0, overlapping FIXED ranges, or a duplicate of a private
// mapping (old size 0); EFAULT if no mapping holds addr or the old range
// leaves it; ENOMEM if the mapping cannot grow in place and may not move,
// no room is left, or (errMremapOverCap) the commit cap (--mem) would be
// exceeded; EPERM for a FIXED target below mmap_min_addr; and
// errMremapUnsupported (EINVAL) for what the VMM cannot do.
//
// Since a guest-virtual page never changes its guest-physical page, a
// move copies the contents between the pages' host views (pages that
// read as zero are skipped), then unmaps the old range as munmap does.
// The new range keeps the mapping's protection, sharing, name and file
// offset. Differences from Linux (docs/hypervisor.md): pages a shared
// anonymous mapping gains by growing read as zero (Linux raises SIGBUS
// past the shared object), and the remaps of errMremapUnsupported,
// growing a file mapping among them, are refused.
func (m *MM) Mremap(addr, oldSize, newSize, flags, newAddr uint64) (uint64, error) {
	switch {
	case flags&^(mremapMaymove|mremapFixed|mremapDontunmap) != 0,
		flags&mremapFixed != 0 && flags&mremapMaymove == 0,
		flags&mremapDontunmap != 0 && (flags&mremapMaymove == 0 || oldSize != newSize),
		addr&pageMask != 0:
		return 0, unix.EINVAL
	}
	// PAGE_ALIGN in Linux wraps to 0 on overflow: an old size of 0 is a
	// duplicate request, a new size of 0 is invalid.
	oldLen, ok := pageUp(oldSize)
	if !ok {
		oldLen = 0
	}
	newLen, ok := pageUp(newSize)
	if !ok || newLen == 0 || newLen > linuxTaskSize || oldLen > linuxTaskSize || addr > linuxTaskSize-oldLen {
		return 0, unix.EINVAL
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if addr >= userTop {
		return 0, unix.EFAULT
	}
	if i, _ := m.vmas.find(addr); i < 0 {
		return 0, unix.EFAULT
	}
	if flags&(mremapFixed|mremapDontunmap) != 0 {
		return m.mremapTo(addr, oldLen, newLen, flags, newAddr)
	}
	// A shrink always succeeds: it unmaps the tail, whatever is there.
	if oldLen >= newLen {
		if oldLen > newLen {
			if err := m.unmapTail(addr+newLen, addr+oldLen); err != nil {
				return 0, err
			}
		}
		return addr, nil
	}
	v, err := m.resizable(addr, oldLen, newLen, flags)
	if err != nil {
		return 0, err
	}
	// The old range reaches the end of the mapping: grow in place if the
	// pages after it are free.
	if addr+oldLen == v.end {
		newEnd := addr + newLen
		if newEnd > v.end && newEnd <= userTop && m.vmas.isFree(v.end, newEnd) {
			if err := m.growLocked(v, newEnd); err != nil {
				return 0, err
			}
			return addr, nil
		}
	}
	if flags&mremapMaymove == 0 {
		return 0, unix.ENOMEM
	}
	to, found := m.place(0, newLen, false)
	if !found {
		return 0, unix.ENOMEM
	}
	if err := m.moveLocked(v, addr, oldLen, to, newLen, false); err != nil {
		return 0, err
	}
	return to, nil
}

// mremapTo is mremap with MREMAP_FIXED or MREMAP_DONTUNMAP: always a
// move, to newAddr (FIXED) or wherever there is room, newAddr being a
// hint (DONTUNMAP alone). Called with mu held and a VMA at addr.
func (m *MM) mremapTo(addr, oldLen, newLen, flags, newAddr uint64) (uint64, error) {
	// Linux's TASK_SIZE check comes first (EINVAL); the VMM area above
	// userTop is then refused as mmap refuses it (ENOMEM).
	if newAddr&pageMask != 0 || newLen > linuxTaskSize || newAddr > linuxTaskSize-newLen {
		return 0, unix.EINVAL
	}
	if addr+oldLen > newAddr && newAddr+newLen > addr {
		return 0, unix.EINVAL
	}
	fixed := flags&mremapFixed != 0
	if fixed {
		if newAddr+newLen > userTop {
			return 0, unix.ENOMEM
		}
		if newAddr < userMin {
			return 0, unix.EPERM
		}
		if oldLen == newLen {
			if err := m.moveAll(addr, oldLen, newAddr, flags); err != nil {
				return 0, err
			}
			return newAddr, nil
		}
		if err := m.unmapLocked(newAddr, newAddr+newLen); err != nil {
			return 0, mmErrno(err)
		}
	}
	if oldLen > newLen {
		if err := m.unmapTail(addr+newLen, addr+oldLen); err != nil {
			return 0, err
		}
		oldLen = newLen
	}
	v, err := m.resizable(addr, oldLen, newLen, flags)
	if err != nil {
		return 0, err
	}
	to := newAddr
	if !fixed {
		var found bool
		if to, found = m.place(newAddr, newLen, false); !found {
			return 0, unix.ENOMEM
		}
	}
	if err := m.moveLocked(v, addr, oldLen, to, newLen, flags&mremapDontunmap != 0); err != nil {
		return 0, err
	}
	return to, nil
}

// moveAll is a MREMAP_FIXED move that does not resize: since Linux 6.17
// it moves every mapping inside [addr, addr+n), which may span several
// VMAs and gaps, keeping the gaps between them; each piece replaces
// what is at its destination (the gaps' destinations stay as they
// are). A failure part-way leaves the pieces before it moved, as on
// Linux. Called with mu held, a VMA at addr and the ranges disjoint.
func (m *MM) moveAll(addr, n, newAddr, flags uint64) error {
	end := addr + n
	var pieces []vma
	i, _ := m.vmas.find(addr)
	for ; i >= 0 && i < len(m.vmas.v) && m.vmas.v[i].start < end; i++ {
		pieces = append(pieces, m.vmas.v[i])
	}
	target, lastEnd := newAddr, uint64(0)
	for k, p := range pieces {
		lo, hi := max(p.start, addr), min(p.end, end)
		if k > 0 {
			target += p.start - lastEnd
		}
		lastEnd = p.end
		if err := m.unmapLocked(target, target+hi-lo); err != nil {
			return mmErrno(err)
		}
		// The table may have changed around lo (merges with moved
		// pieces): look the VMA up again.
		v, err := m.resizable(lo, hi-lo, hi-lo, flags)
		if err != nil {
			return err
		}
		if err := m.moveLocked(v, lo, hi-lo, target, hi-lo, flags&mremapDontunmap != 0); err != nil {
			return err
		}
		target += hi - lo
	}
	return nil
}

// resizable returns the VMA holding [addr, addr+oldLen), after Linux's
// checks (vma_to_resize): EFAULT unless one VMA holds the range, EINVAL
// for duplicating a private mapping (old size 0), errMremapUnsupported
// for MREMAP_DONTUNMAP of a shared or file mapping and for growing a
// file mapping, ENOMEM if growing
// would exceed the cap. Called with mu held.
func (m *MM) resizable(addr, oldLen, newLen, flags uint64) (vma, error) {
	i, _ := m.vmas.find(addr)
	if i < 0 {
		return vma{}, unix.EFAULT
	}
	v := m.vmas.v[i]
	if oldLen == 0 && !v.shared {
		return vma{}, unix.EINVAL
	}
	if flags&mremapDontunmap != 0 && (v.shared || !v.anonymous()) {
		return vma{}, errMremapUnsupported
	}
	if newLen > oldLen && !v.anonymous() {
		return vma{}, errMremapUnsupported
	}
	if oldLen > v.end-addr {
		return vma{}, unix.EFAULT
	}
	if v.accessible() && newLen > oldLen {
		if err := m.checkCommit(newLen-oldLen, 0); err != nil {
			return vma{}, errMremapOverCap
		}
	}
	return v, nil
}

// growLocked extends v up to newEnd (free, inside the address space),
// as mmap would map the new pages, with v's attributes. Called with mu
// held.
func (m *MM) growLocked(v vma, newEnd uint64) error {
	// v is anonymous: file mappings do not grow (resizable).
	w := vma{start: v.end, end: newEnd, prot: v.prot, shared: v.shared, name: v.name}
	var add uint64
	if w.accessible() {
		add = w.size()
	}
	if err := m.mapRange(w.start, w.end, protPTE(w.prot), w.accessible()); err != nil {
		m.unbindRange(w.start, w.end)
		return mmErrno(err)
	}
	m.vmas.insert(w)
	m.committed += add
	return nil
}

// moveLocked moves the contents of [from, from+oldLen), inside v, to
// [to, to+newLen), which must be free, and maps the new range with v's
// attributes; the pages past oldLen read as zero. The old range is
// unmapped, or with dontUnmap keeps its mapping and reads as zero. Guest
// code loses access to the old range before the copy, so a store racing
// with the move faults rather than being lost. Called with mu held.
func (m *MM) moveLocked(v vma, from, oldLen, to, newLen uint64, dontUnmap bool) error {
	if oldLen == 0 {
		// Linux maps the shared pages a second time: aliasing, which
		// fixed bindings cannot express.
		return errMremapUnsupported
	}
	w := vma{start: to, end: to + newLen, prot: v.prot, shared: v.shared, name: v.name}
	switch {
	case v.name == "[heap]" || v.name == "[stack]":
		w.name = "" // Linux names only the VMAs at the brk and the stack
	case !v.anonymous():
		w.off = v.off + (from - v.start)
	}
	var add, remove uint64
	if w.accessible() {
		add = newLen
		if !dontUnmap {
			remove = oldLen
		}
	}
	if err := m.checkCommit(add, remove); err != nil {
		return errMremapOverCap
	}
	// Bind the new range (leaves first, so that a failure to allocate a
	// page table happens before the old range is touched). A PROT_NONE
	// mapping needs pages only where the old one had contents.
	bind := w.accessible() || !v.anonymous()
	if !bind {
		m.binds.bound(from, from+oldLen, func(uint64, uint64, uint64) error { bind = true; return nil })
	}
	// On failure the new range goes back to unmapped and zero.
	if err := m.mapRange(w.start, w.end, protPTE(w.prot), bind); err != nil {
		m.unbindRange(w.start, w.end)
		return mmErrno(err)
	}
	if err := m.mapRange(from, from+oldLen, 0, false); err != nil {
		m.unbindRange(w.start, w.end)
		m.resetLeaves(from, from+oldLen)
		return mmErrno(err)
	}
	if err := m.copyPages(from, to, min(oldLen, newLen)); err != nil {
		m.unbindRange(w.start, w.end)
		m.resetLeaves(from, from+oldLen)
		return mmErrno(err)
	}
	m.vmas.insert(w)
	m.committed += add
	if dontUnmap {
		// The old range stays mapped, empty: release, then the leaves
		// again (the release dropped the VCPUs' translations).
		if err := m.releaseRange(from, from+oldLen); err != nil {
			return mmErrno(err)
		}
		m.resetLeaves(from, from+oldLen)
		return nil
	}
	return mmErrno(m.unmapLocked(from, from+oldLen))
}

// copyPages copies the bound pages of [from, from+n) that do not read as
// zero to the pages of [to, to+n), which must be bound and read as zero
// (fresh or released). Unbound source pages have no contents. Called
// with mu held.
func (m *MM) copyPages(from, to, n uint64) error {
	var zero [pageSize]byte
	return m.binds.bound(from, from+n, func(gva, gpa, pages uint64) error {
		src := m.phys.bytes(gpa, pages*pageSize)
		dst := to + (gva - from)
		for off := uint64(0); off < uint64(len(src)); off += pageSize {
			page := src[off : off+pageSize]
			if bytes.Equal(page, zero[:]) {
				continue
			}
			dgpa, _, ok := m.binds.lookup(dst + off)
			if !ok {
				return errors.New("mremap: destination page not bound")
			}
			copy(m.phys.bytes(dgpa, pageSize), page)
		}
		return nil
	})
}
