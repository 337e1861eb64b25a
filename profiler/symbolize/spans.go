package symbolize

import "sort"

// span is a half-open address range [lo, hi) carrying a value.
type span[T any] struct {
	lo, hi uint64
	v      T
}

// spanSet answers "which range contains pc" for ranges that mostly do not
// overlap but may nest (a unit inside another's range, a GNU C nested
// function inside its parent). Among ranges containing pc it returns the
// one that starts last, which for nested ranges is the innermost.
type spanSet[T any] struct {
	s []span[T] // sorted by lo
	// maxHi[i] is the largest hi of s[:i+1]: a backwards walk stops as
	// soon as no earlier range can reach pc.
	maxHi []uint64
}

// newSpanSet sorts s (it keeps s) and drops empty ranges.
func newSpanSet[T any](s []span[T]) spanSet[T] {
	out := s[:0]
	for _, x := range s {
		if x.hi > x.lo {
			out = append(out, x)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	maxHi := make([]uint64, len(out))
	var hi uint64
	for i, x := range out {
		hi = max(hi, x.hi)
		maxHi[i] = hi
	}
	return spanSet[T]{s: out, maxHi: maxHi}
}

// find returns the value of the latest-starting range containing pc.
func (ss *spanSet[T]) find(pc uint64) (T, bool) {
	i := sort.Search(len(ss.s), func(i int) bool { return ss.s[i].lo > pc }) - 1
	for ; i >= 0 && ss.maxHi[i] > pc; i-- {
		if pc < ss.s[i].hi {
			return ss.s[i].v, true
		}
	}
	var zero T
	return zero, false
}
