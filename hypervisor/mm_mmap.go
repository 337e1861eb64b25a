package hypervisor

import (
	"errors"
	"io"

	"github.com/vpmu/vpmu/internal/unix"
)

// Address-space layout of a new program (see arch_layout.go).
const (
	// stackTop is the top of the main thread's stack.
	stackTop = userTop
	// defaultStackSize is RLIMIT_STACK's default soft limit; the whole
	// stack is mapped up front (the VMM does not grow stacks on faults).
	defaultStackSize = 8 << 20
	// defaultMmapBase is where top-down mmap allocation starts, leaving
	// Linux's minimum 128 MiB gap below the stack top.
	defaultMmapBase = stackTop - 128<<20
	// etDynBase is where a position-independent main program is loaded,
	// Linux's ELF_ET_DYN_BASE without randomization.
	etDynBase = 0x5555_5555_4000
)

const protMask = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC

// mmapRequest is a decoded mmap call.
type mmapRequest struct {
	addr, length uint64
	prot, flags  int
	src          fileSource // nil for anonymous mappings
	off          uint64
	name         string // VMA name; defaults to src.Name()
}

// Mmap implements mmap(2) for the guest. It returns the mapped address
// or an errno: EINVAL for malformed requests, ENOMEM when the range is
// outside the address space, no room is left, or the commit cap (--mem)
// would be exceeded, EEXIST for MAP_FIXED_NOREPLACE over a mapping, and
// ENODEV for writable shared file mappings (not supported).
//
// Differences from Linux, by design (docs/hypervisor.md): file contents
// are copied at mmap time (later changes to the file are not seen), and
// pages past the end of the file read as zero instead of raising SIGBUS.
func (m *MM) Mmap(r mmapRequest) (uint64, error) {
	length, ok := pageUp(r.length)
	if r.length == 0 || r.off&pageMask != 0 || r.prot&^protMask != 0 {
		return 0, unix.EINVAL
	}
	if !ok || length > userTop || r.off+length < r.off {
		return 0, unix.ENOMEM
	}
	switch r.flags & mapTypeMask {
	case unix.MAP_PRIVATE, unix.MAP_SHARED, mapSharedValidate:
	default:
		return 0, unix.EINVAL
	}
	shared := r.flags&mapTypeMask != unix.MAP_PRIVATE
	anon := r.flags&unix.MAP_ANONYMOUS != 0
	if anon {
		r.src = nil
		if r.name == "" {
			// A named anonymous mapping is the loader's copy of a file
			// segment, which keeps its file offset.
			r.off = 0
		}
	} else if r.src == nil {
		return 0, unix.EBADF
	}
	if !anon && shared && r.prot&unix.PROT_WRITE != 0 {
		return 0, unix.ENODEV
	}
	fixed := r.flags&(unix.MAP_FIXED|mapFixedNoReplace) != 0

	m.mu.Lock()
	defer m.mu.Unlock()

	var lo uint64
	switch {
	case fixed:
		if r.addr&pageMask != 0 {
			return 0, unix.EINVAL
		}
		if r.addr < userMin {
			return 0, unix.EPERM
		}
		if r.addr > userTop-length {
			return 0, unix.ENOMEM
		}
		lo = r.addr
		if r.flags&mapFixedNoReplace != 0 && !m.vmas.isFree(lo, lo+length) {
			return 0, unix.EEXIST
		}
	default:
		var found bool
		lo, found = m.place(r.addr, length, r.flags&map32Bit != 0)
		if !found {
			return 0, unix.ENOMEM
		}
	}
	hi := lo + length

	v := vma{start: lo, end: hi, prot: r.prot, shared: shared, name: r.name, off: r.off}
	if v.name == "" && r.src != nil {
		v.name = r.src.Name()
	}
	add := uint64(0)
	if v.accessible() {
		add = length
	}
	if err := m.checkCommit(add, m.vmas.accessibleBytes(lo, hi)); err != nil {
		return 0, err
	}
	if err := m.unmapLocked(lo, hi); err != nil {
		return 0, err
	}
	// File mappings are bound even when PROT_NONE, to hold the contents.
	if err := m.mapRange(lo, hi, protPTE(r.prot), v.accessible() || r.src != nil); err != nil {
		m.unbindRange(lo, hi)
		return 0, mmErrno(err)
	}
	if r.src != nil {
		if err := m.fill(lo, hi, r.src, r.off); err != nil {
			m.unbindRange(lo, hi)
			return 0, err
		}
	}
	m.vmas.insert(v)
	m.committed += add
	return lo, nil
}

// place chooses an address for a non-fixed mapping: the hint if the
// range there is free, else the highest free range below mmapBase (below
// 2 GiB for MAP_32BIT), else the highest one above it.
func (m *MM) place(hint, length uint64, below2G bool) (uint64, bool) {
	if below2G {
		return m.vmas.topDown(length, userMin, 1<<31)
	}
	if hint = pageDown(hint); hint >= userMin && hint <= userTop-length && m.vmas.isFree(hint, hint+length) {
		return hint, true
	}
	if a, ok := m.vmas.topDown(length, userMin, m.mmapBase); ok {
		return a, true
	}
	return m.vmas.topDown(length, m.mmapBase, userTop)
}

// checkCommit fails with ENOMEM if adding add accessible bytes while
// removing remove would exceed the cap. Called with mu held.
func (m *MM) checkCommit(add, remove uint64) error {
	if m.limit == 0 || add <= remove {
		return nil
	}
	if m.committed-remove+add > m.limit {
		return unix.ENOMEM
	}
	return nil
}

// fill copies the file contents at off into the bound pages [lo, hi);
// bytes past the end of the file stay zero. Called with mu held.
func (m *MM) fill(lo, hi uint64, src io.ReaderAt, off uint64) error {
	return m.binds.bound(lo, hi, func(gva, gpa, n uint64) error {
		buf := m.phys.bytes(gpa, n*pageSize)
		// Past EOF the pages stay zero (fresh or released).
		if _, err := src.ReadAt(buf, int64(off+(gva-lo))); err != nil && !errors.Is(err, io.EOF) {
			return unix.EIO
		}
		return nil
	})
}

// unmapLocked removes [lo, hi) from the VMA table, clears the leaves of
// the pages it held and zeroes them. Called with mu held.
func (m *MM) unmapLocked(lo, hi uint64) error {
	var err error
	for _, v := range m.vmas.remove(lo, hi) {
		if v.accessible() {
			m.committed -= v.size()
		}
		if e := m.unbindRange(v.start, v.end); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Munmap implements munmap(2): the pages become inaccessible to system
// calls (EFAULT) and to guest code (SIGSEGV, SEGV_MAPERR), and read as
// zero if mapped again. Their leaves are cleared and MADV_DONTNEED on
// their host backing makes every VCPU drop its translations.
func (m *MM) Munmap(addr, length uint64) error {
	end, ok := pageUp(addr + length)
	if addr&pageMask != 0 || length == 0 || !ok || addr+length < addr || end > userTop {
		return unix.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unmapLocked(addr, end)
}

// Mprotect implements mprotect(2). The new protection is recorded in the
// VMA table, which system calls check (EFAULT), and set in the leaves,
// which guest code meets (SIGSEGV, SEGV_ACCERR): PROT_NONE clears them,
// no PROT_WRITE clears W, no PROT_EXEC sets NX. Pages that become
// accessible for the first time are bound now. Where access is taken
// away the VCPUs drop their translations (physMem.invalidate, a few µs
// per contiguous run of pages).
func (m *MM) Mprotect(addr, length uint64, prot int) error {
	const growsFlags = 0x01000000 | 0x02000000 // PROT_GROWSDOWN, PROT_GROWSUP
	prot &^= growsFlags
	end, ok := pageUp(addr + length)
	if addr&pageMask != 0 || prot&^protMask != 0 || !ok || addr+length < addr {
		return unix.EINVAL
	}
	if length == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if end > userTop || !m.vmas.mapped(addr, end) {
		return unix.ENOMEM
	}
	accessible := prot != unix.PROT_NONE
	var add, remove uint64
	cur := m.vmas.accessibleBytes(addr, end)
	if accessible {
		add = end - addr
	}
	remove = cur
	if err := m.checkCommit(add, remove); err != nil {
		return err
	}
	if err := m.mapRange(addr, end, protPTE(prot), accessible); err != nil {
		m.resetLeaves(addr, end)
		return mmErrno(err)
	}
	m.vmas.protect(addr, end, prot, func(vma) {})
	m.committed = m.committed - remove + add
	return nil
}

// Brk implements brk(2): it moves the end of the heap and returns the new
// end, or the old one if the request cannot be met.
func (m *MM) Brk(addr uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr < m.brkStart {
		return m.brk
	}
	oldEnd, _ := pageUp(m.brk)
	newEnd, ok := pageUp(addr)
	if !ok || newEnd > m.mmapBase {
		return m.brk
	}
	switch {
	case newEnd > oldEnd:
		if !m.vmas.isFree(oldEnd, newEnd) || m.checkCommit(newEnd-oldEnd, 0) != nil {
			return m.brk
		}
		if err := m.mapRange(oldEnd, newEnd, protPTE(unix.PROT_READ|unix.PROT_WRITE), true); err != nil {
			m.resetLeaves(oldEnd, newEnd)
			return m.brk
		}
		m.vmas.insert(vma{start: oldEnd, end: newEnd, prot: unix.PROT_READ | unix.PROT_WRITE, name: "[heap]"})
		m.committed += newEnd - oldEnd
	case newEnd < oldEnd:
		if err := m.unmapLocked(newEnd, oldEnd); err != nil {
			return m.brk
		}
	}
	m.brk = addr
	return m.brk
}

// setBrk places the start of the heap (at load time).
func (m *MM) setBrk(start uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.brkStart, m.brk = start, start
}

// Madvise advice values.
const (
	madvNormal     = 0
	madvRandom     = 1
	madvSequential = 2
	madvWillNeed   = 3
	madvDontNeed   = 4
	madvFree       = 8
)

// Madvise implements madvise(2). MADV_DONTNEED and MADV_FREE zero
// anonymous pages (as Linux does for private anonymous memory); on file
// mappings they keep the contents (Linux would re-read the file). Other
// known advice is accepted and ignored.
func (m *MM) Madvise(addr, length uint64, advice int) error {
	end, ok := pageUp(addr + length)
	if addr&pageMask != 0 || !ok || addr+length < addr {
		return unix.EINVAL
	}
	switch {
	case advice == madvDontNeed || advice == madvFree:
	case advice >= 0 && advice <= 25:
		// The remaining known advice only tunes paging; nothing to do.
		m.mu.RLock()
		defer m.mu.RUnlock()
		if !m.vmas.mapped(addr, end) {
			return unix.ENOMEM
		}
		return nil
	default:
		return unix.EINVAL
	}
	if length == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if end > userTop || !m.vmas.mapped(addr, end) {
		return unix.ENOMEM
	}
	a, b := m.vmas.span(addr, end)
	for _, v := range m.vmas.v[a:b] {
		if v.name == "" || v.name == "[heap]" || v.name == "[stack]" {
			if err := m.releaseRange(v.start, v.end); err != nil {
				return err
			}
		}
	}
	return nil
}
