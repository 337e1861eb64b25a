package hypervisor

import "sort"

// extent is a run of n guest-virtual pages bound to n contiguous
// guest-physical pages.
type extent struct {
	gva, gpa, n uint64
}

func (e extent) end() uint64 { return e.gva + e.n*pageSize }

// bindings is the VMM's own GVA -> GPA translation: the fixed binding of
// every guest-virtual page that has ever been mapped. Extents are sorted
// by gva and never overlap; a binding is never removed or re-targeted
// (see pageTable). Lookups are a binary search, so the system-call path
// never walks guest page tables.
//
// bindings is not safe for concurrent use; the MM's lock protects it.
type bindings struct {
	ext []extent
}

// find returns the index of the extent containing gva, or -1 and the
// index of the first extent above gva.
func (b *bindings) find(gva uint64) (idx, next int) {
	i := sort.Search(len(b.ext), func(i int) bool { return b.ext[i].end() > gva })
	if i < len(b.ext) && b.ext[i].gva <= gva {
		return i, i
	}
	return -1, i
}

// lookup translates gva. run is how many bytes from gva on are bound
// contiguously (to the end of the extent).
func (b *bindings) lookup(gva uint64) (gpa, run uint64, ok bool) {
	i, _ := b.find(gva)
	if i < 0 {
		return 0, 0, false
	}
	e := b.ext[i]
	return e.gpa + (gva - e.gva), e.end() - gva, true
}

// add records that n pages at gva are bound to n pages at gpa. The range
// must be unbound. It merges with neighbours contiguous in both spaces.
func (b *bindings) add(gva, gpa, n uint64) {
	_, i := b.find(gva)
	ne := extent{gva: gva, gpa: gpa, n: n}
	if i > 0 {
		if p := &b.ext[i-1]; p.end() == gva && p.gpa+p.n*pageSize == gpa {
			p.n += n
			if i < len(b.ext) {
				if q := b.ext[i]; q.gva == p.end() && q.gpa == p.gpa+p.n*pageSize {
					p.n += q.n
					b.ext = append(b.ext[:i], b.ext[i+1:]...)
				}
			}
			return
		}
	}
	if i < len(b.ext) {
		if q := &b.ext[i]; q.gva == ne.end() && q.gpa == gpa+n*pageSize {
			q.gva, q.gpa, q.n = gva, gpa, q.n+n
			return
		}
	}
	b.ext = append(b.ext, extent{})
	copy(b.ext[i+1:], b.ext[i:])
	b.ext[i] = ne
}

// unbound calls f for each maximal unbound run [start, end) inside
// [lo, hi) (page aligned), in address order.
func (b *bindings) unbound(lo, hi uint64, f func(start, end uint64) error) error {
	_, i := b.find(lo)
	if j, _ := b.find(lo); j >= 0 {
		i = j
	}
	cur := lo
	for ; i < len(b.ext) && cur < hi; i++ {
		e := b.ext[i]
		if e.gva > cur {
			if err := f(cur, min(e.gva, hi)); err != nil {
				return err
			}
		}
		cur = max(cur, e.end())
	}
	if cur < hi {
		return f(cur, hi)
	}
	return nil
}

// bound calls f for each bound run inside [lo, hi), with its GPA.
func (b *bindings) bound(lo, hi uint64, f func(gva, gpa, n uint64) error) error {
	i, next := b.find(lo)
	if i < 0 {
		i = next
	}
	for ; i < len(b.ext) && b.ext[i].gva < hi; i++ {
		e := b.ext[i]
		s, t := max(e.gva, lo), min(e.end(), hi)
		if s >= t {
			continue
		}
		if err := f(s, e.gpa+(s-e.gva), (t-s)/pageSize); err != nil {
			return err
		}
	}
	return nil
}

// pages returns the number of bound pages.
func (b *bindings) pages() uint64 {
	var n uint64
	for _, e := range b.ext {
		n += e.n
	}
	return n
}
