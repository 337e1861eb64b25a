package hypervisor

import (
	"sort"

	"github.com/vpmu/vpmu/internal/unix"
)

// vma is one mapping of the guest's address space, as /proc/pid/maps
// would show it.
type vma struct {
	start, end uint64 // page aligned, start < end
	prot       int    // PROT_* as last set by mmap or mprotect
	shared     bool   // MAP_SHARED
	name       string // file path, "[heap]", "[stack]", or "" (anonymous)
	off        uint64 // file offset of start, for file mappings
}

func (v vma) accessible() bool { return v.prot&(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC) != 0 }

func (v vma) size() uint64 { return v.end - v.start }

// anonymous reports whether v has no file behind it (its pages start as
// zero); the loader's copies of file segments are named like files.
func (v vma) anonymous() bool { return v.name == "" || v.name == "[heap]" || v.name == "[stack]" }

// mergeable reports whether w can extend v upwards into one mapping.
func (v vma) mergeable(w vma) bool {
	return v.end == w.start && v.prot == w.prot && v.shared == w.shared && v.name == w.name &&
		(v.anonymous() || v.off+v.size() == w.off)
}

// vmaSet is the guest's mapping table: sorted, non-overlapping VMAs. It
// is the authority on what the guest may access; the page tables only
// say what could be reached (see pageTable).
//
// vmaSet is not safe for concurrent use; the MM's lock protects it.
type vmaSet struct {
	v []vma
}

// find returns the index of the VMA containing addr, or -1 and the index
// of the first VMA above addr.
func (s *vmaSet) find(addr uint64) (idx, next int) {
	i := sort.Search(len(s.v), func(i int) bool { return s.v[i].end > addr })
	if i < len(s.v) && s.v[i].start <= addr {
		return i, i
	}
	return -1, i
}

// isFree reports whether no VMA overlaps [lo, hi).
func (s *vmaSet) isFree(lo, hi uint64) bool {
	_, i := s.find(lo)
	if j, _ := s.find(lo); j >= 0 {
		return false
	}
	return i >= len(s.v) || s.v[i].start >= hi
}

// split makes addr a VMA boundary if a VMA straddles it.
func (s *vmaSet) split(addr uint64) {
	i, _ := s.find(addr)
	if i < 0 || s.v[i].start == addr {
		return
	}
	lo, hi := s.v[i], s.v[i]
	lo.end = addr
	hi.start = addr
	if hi.name != "" {
		hi.off += addr - lo.start
	}
	s.v = append(s.v, vma{})
	copy(s.v[i+2:], s.v[i+1:])
	s.v[i], s.v[i+1] = lo, hi
}

// span returns the index range [a, b) of the VMAs inside [lo, hi) after
// splitting at both ends.
func (s *vmaSet) span(lo, hi uint64) (a, b int) {
	s.split(lo)
	s.split(hi)
	_, a = s.find(lo)
	if i, _ := s.find(lo); i >= 0 {
		a = i
	}
	b = a
	for b < len(s.v) && s.v[b].start < hi {
		b++
	}
	return a, b
}

// insert adds v; [v.start, v.end) must be free.
func (s *vmaSet) insert(v vma) {
	_, i := s.find(v.start)
	s.v = append(s.v, vma{})
	copy(s.v[i+1:], s.v[i:])
	s.v[i] = v
	s.merge(i)
}

// remove deletes [lo, hi) from the table and returns the removed pieces.
func (s *vmaSet) remove(lo, hi uint64) []vma {
	a, b := s.span(lo, hi)
	gone := append([]vma(nil), s.v[a:b]...)
	s.v = append(s.v[:a], s.v[b:]...)
	return gone
}

// protect sets prot on every mapped page of [lo, hi) and calls f with
// each piece before the change.
func (s *vmaSet) protect(lo, hi uint64, prot int, f func(old vma)) {
	a, b := s.span(lo, hi)
	for i := a; i < b; i++ {
		f(s.v[i])
		s.v[i].prot = prot
	}
	for i := b - 1; i >= a && i < len(s.v); i-- {
		s.merge(i)
	}
}

// merge joins s.v[i] with its neighbours where mergeable.
func (s *vmaSet) merge(i int) {
	if i+1 < len(s.v) && s.v[i].mergeable(s.v[i+1]) {
		s.v[i].end = s.v[i+1].end
		s.v = append(s.v[:i+1], s.v[i+2:]...)
	}
	if i > 0 && i < len(s.v) && s.v[i-1].mergeable(s.v[i]) {
		s.v[i-1].end = s.v[i].end
		s.v = append(s.v[:i], s.v[i+1:]...)
	}
}

// covered reports whether every byte of [lo, hi) is mapped with all the
// protection bits in need.
func (s *vmaSet) covered(lo, hi uint64, need int) bool {
	i, _ := s.find(lo)
	if i < 0 {
		return false
	}
	for cur := lo; cur < hi; i++ {
		if i >= len(s.v) || s.v[i].start > cur || s.v[i].prot&need != need {
			return false
		}
		cur = s.v[i].end
	}
	return true
}

// mapped reports whether every byte of [lo, hi) is mapped.
func (s *vmaSet) mapped(lo, hi uint64) bool { return s.covered(lo, hi, 0) }

// topDown returns the highest page-aligned address a with [a, a+size)
// free and inside [floor, ceil), as Linux's top-down allocator does.
func (s *vmaSet) topDown(size, floor, ceil uint64) (uint64, bool) {
	if size == 0 || ceil < floor || ceil-floor < size {
		return 0, false
	}
	top := ceil
	_, i := s.find(ceil)
	if j, _ := s.find(ceil); j >= 0 {
		top = s.v[j].start
		i = j
	}
	for i--; ; i-- {
		bottom := floor
		if i >= 0 {
			bottom = max(s.v[i].end, floor)
		}
		if top >= bottom && top-bottom >= size {
			return top - size, true
		}
		if i < 0 || s.v[i].start <= floor {
			return 0, false
		}
		top = s.v[i].start
	}
}

// accessibleBytes sums the accessible bytes of the VMAs inside [lo, hi).
func (s *vmaSet) accessibleBytes(lo, hi uint64) uint64 {
	_, i := s.find(lo)
	if j, _ := s.find(lo); j >= 0 {
		i = j
	}
	var n uint64
	for ; i < len(s.v) && s.v[i].start < hi; i++ {
		if s.v[i].accessible() {
			n += min(s.v[i].end, hi) - max(s.v[i].start, lo)
		}
	}
	return n
}
