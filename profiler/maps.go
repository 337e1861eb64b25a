package profiler

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
)

// Mapping is one mapped region of a process's address space, as perf
// MMAP2 records and /proc/PID/maps describe it: [Start, Limit) maps the
// file File from byte Offset on.
type Mapping struct {
	Start, Limit, Offset uint64
	// File is the path of the mapped file, or a pseudo-name: "[vdso]",
	// "[stack]", "[heap]", "//anon" (perf's name for anonymous memory),
	// "" (anonymous in /proc/PID/maps). A file deleted after it was
	// mapped keeps the " (deleted)" suffix the kernel gives it.
	File string
	// BuildID is the file's build ID (hex) when the source knows it
	// (perf MMAP2 records with PERF_RECORD_MISC_MMAP_BUILD_ID), else "".
	BuildID string
}

// Contains reports whether addr is inside the mapping.
func (m Mapping) Contains(addr uint64) bool { return m.Start <= addr && addr < m.Limit }

// Symbolizable reports whether File names a regular file on disk that
// symbols can be read from: not a pseudo-name, not memfd or device
// memory, and not a file deleted after it was mapped (the path may now
// hold a different build).
func (m Mapping) Symbolizable() bool {
	f := m.File
	return strings.HasPrefix(f, "/") && !strings.HasPrefix(f, "//") &&
		!strings.HasPrefix(f, "/memfd:") && !strings.HasPrefix(f, "/dev/") &&
		!strings.HasSuffix(f, " (deleted)")
}

func (m Mapping) String() string {
	return fmt.Sprintf("%#x-%#x %#x %s", m.Start, m.Limit, m.Offset, m.File)
}

// AddressSpace is the set of mappings of one process, kept sorted and
// non-overlapping the way the kernel keeps them: a new mapping replaces
// whatever it overlaps, as mmap with MAP_FIXED does.
//
// An AddressSpace is not safe for concurrent use.
type AddressSpace struct {
	maps []Mapping // sorted by Start, disjoint
	// ids[i] identifies maps[i] for as long as it is unchanged (a
	// clone keeps it), so users can cache per mapping without hashing
	// its strings.
	ids []uint64
}

// nextMappingID numbers mappings across all address spaces.
var nextMappingID atomic.Uint64

// Map adds m, trimming or splitting the mappings it overlaps (a trimmed
// file mapping keeps the right file offset). An empty or inverted range
// is an error.
func (a *AddressSpace) Map(m Mapping) error {
	if m.Limit <= m.Start {
		return fmt.Errorf("mapping %v: empty or inverted range", m)
	}
	a.Unmap(m.Start, m.Limit)
	i := sort.Search(len(a.maps), func(i int) bool { return a.maps[i].Start >= m.Limit })
	a.maps = slices.Insert(a.maps, i, m)
	a.ids = slices.Insert(a.ids, i, nextMappingID.Add(1))
	return nil
}

// Unmap removes [start, limit) from the address space.
func (a *AddressSpace) Unmap(start, limit uint64) {
	if limit <= start {
		return
	}
	var out []Mapping
	var ids []uint64
	for i, old := range a.maps {
		if old.Limit <= start || old.Start >= limit {
			out, ids = append(out, old), append(ids, a.ids[i])
			continue
		}
		if old.Start < start {
			left := old
			left.Limit = start
			out, ids = append(out, left), append(ids, nextMappingID.Add(1))
		}
		if old.Limit > limit {
			right := old
			right.Offset += limit - old.Start
			right.Start = limit
			out, ids = append(out, right), append(ids, nextMappingID.Add(1))
		}
	}
	a.maps, a.ids = out, ids
}

// Find returns the mapping that contains addr.
func (a *AddressSpace) Find(addr uint64) (Mapping, bool) {
	if i := a.find(addr); i >= 0 {
		return a.maps[i], true
	}
	return Mapping{}, false
}

// find returns the index of the mapping that contains addr, or -1.
func (a *AddressSpace) find(addr uint64) int {
	i := sort.Search(len(a.maps), func(i int) bool { return a.maps[i].Limit > addr })
	if i < len(a.maps) && a.maps[i].Contains(addr) {
		return i
	}
	return -1
}

// Mappings returns a copy of the mappings in address order.
func (a *AddressSpace) Mappings() []Mapping {
	return append([]Mapping(nil), a.maps...)
}

// Len returns the number of mappings.
func (a *AddressSpace) Len() int { return len(a.maps) }

// Clone returns an independent copy, as fork gives the child.
func (a *AddressSpace) Clone() *AddressSpace {
	return &AddressSpace{maps: a.Mappings(), ids: slices.Clone(a.ids)}
}

// mainFile returns the file of the lowest symbolizable mapping: the
// executable, which the kernel and the vpmu loader map below its shared
// libraries.
func (a *AddressSpace) mainFile() string {
	for _, m := range a.maps {
		if m.Symbolizable() {
			return m.File
		}
	}
	return ""
}
