package hypervisor

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"

	"github.com/vpmu/vpmu/internal/elfnote"
)

// The program's file mappings for profiles: the guest is a Linux program
// whose code comes from host files (the main program, ld.so, libc, other
// shared libraries), so the host symbolizer can name it, given where each
// file is mapped and at which offset. The VMA table has both. Samples
// carry a snapshot of the file mappings, taken again only when they
// changed, with each file's build ID read from the ELF notes in guest
// memory: the build that ran, so that a file rebuilt on disk since is
// refused rather than misnamed.

// GuestMaps is a snapshot of a guest program's file mappings, in address
// order. It is never modified.
type GuestMaps struct {
	Maps []GuestMapping
}

// GuestMapping is one file mapping of the guest: [Start, Limit) maps File
// (a host path) from byte Offset on.
type GuestMapping struct {
	Start, Limit, Offset uint64
	File                 string
	// BuildID is the file's GNU build ID in hex, or else its Go build
	// ID, as read from the mapped ELF notes; "" when there is none.
	BuildID string
}

// mapsCache keeps the last snapshot and the build IDs read so far.
type mapsCache struct {
	mu  sync.Mutex
	cur *GuestMaps
	// ids caches build IDs by file and the address of the mapping that
	// holds its ELF header.
	ids map[buildIDKey]string
}

type buildIDKey struct {
	file string
	base uint64
}

// fileMapping reports whether a VMA maps a host file.
func fileMapping(v *vma) bool { return strings.HasPrefix(v.name, "/") }

// snapshot returns the current file mappings of m: the last snapshot if
// they did not change since, else a new one.
func (c *mapsCache) snapshot(m *MM, st *sampleStats) *GuestMaps {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.mu.RLock()
	if c.cur != nil && c.cur.same(m.vmas.v) {
		m.mu.RUnlock()
		return c.cur
	}
	var maps []GuestMapping
	for i := range m.vmas.v {
		if v := &m.vmas.v[i]; fileMapping(v) {
			maps = append(maps, GuestMapping{Start: v.start, Limit: v.end, Offset: v.off, File: v.name})
		}
	}
	m.mu.RUnlock()
	if c.ids == nil {
		c.ids = make(map[buildIDKey]string)
	}
	for i := range maps {
		g := &maps[i]
		base, ok := elfBase(maps, g.File)
		if !ok {
			continue
		}
		k := buildIDKey{g.File, base}
		id, seen := c.ids[k]
		if !seen {
			id = readBuildID(m, maps, g.File, base)
			c.ids[k] = id
		}
		g.BuildID = id
	}
	c.cur = &GuestMaps{Maps: maps}
	st.snapshots.Add(1)
	return c.cur
}

// same reports whether the file mappings among vmas are those of g.
func (g *GuestMaps) same(vmas []vma) bool {
	j := 0
	for i := range vmas {
		v := &vmas[i]
		if !fileMapping(v) {
			continue
		}
		if j == len(g.Maps) {
			return false
		}
		w := &g.Maps[j]
		if w.Start != v.start || w.Limit != v.end || w.Offset != v.off || w.File != v.name {
			return false
		}
		j++
	}
	return j == len(g.Maps)
}

// elfBase returns the start of the mapping of file at offset 0, which
// holds its ELF header.
func elfBase(maps []GuestMapping, file string) (uint64, bool) {
	for _, g := range maps {
		if g.File == file && g.Offset == 0 {
			return g.Start, true
		}
	}
	return 0, false
}

// ELF constants of the build-ID reader.
const (
	elfPTNote = 4
	// maxNoteBytes bounds what a guest's note headers can make the
	// reader copy (the program headers are bounded as parseELF bounds
	// them).
	maxNoteBytes = 1 << 16
)

// readBuildID reads the build ID of the 64-bit little-endian ELF file
// mapped with its header at base: its GNU build ID in hex, else its Go
// build ID, else "". File offsets are found in guest memory through the
// file's mappings in maps. Anything malformed gives "".
func readBuildID(mem guestReader, maps []GuestMapping, file string, base uint64) string {
	var eh [elfHeaderSize]byte
	if mem.CopyIn(base, eh[:]) != nil || !bytes.Equal(eh[:4], []byte("\x7fELF")) || eh[4] != 2 || eh[5] != 1 {
		return ""
	}
	le := binary.LittleEndian
	phoff := le.Uint64(eh[0x20:])
	phentsize := uint64(le.Uint16(eh[0x36:]))
	phnum := uint64(le.Uint16(eh[0x38:]))
	if phentsize != elfPhdrSize || phnum == 0 || phnum*elfPhdrSize > maxPhdrBytes { // as parseELF checks
		return ""
	}
	read := func(off, n uint64) []byte {
		for _, g := range maps {
			if g.File != file || off < g.Offset || off-g.Offset >= g.Limit-g.Start || n > g.Limit-g.Start-(off-g.Offset) {
				continue
			}
			b := make([]byte, n)
			if mem.CopyIn(g.Start+(off-g.Offset), b) != nil {
				return nil
			}
			return b
		}
		return nil
	}
	ph := read(phoff, phentsize*phnum)
	if ph == nil {
		return ""
	}
	var goID string
	for i := uint64(0); i < phnum; i++ {
		h := ph[i*phentsize:]
		if le.Uint32(h) != elfPTNote {
			continue
		}
		off, size := le.Uint64(h[8:]), le.Uint64(h[32:])
		if size == 0 || size > maxNoteBytes {
			continue
		}
		notes := read(off, size)
		gnu, g := parseBuildIDNotes(notes)
		if gnu != "" {
			return gnu
		}
		if goID == "" {
			goID = g
		}
	}
	return goID
}

// parseBuildIDNotes returns the build IDs in the ELF notes b, those
// before a malformed note included.
func parseBuildIDNotes(b []byte) (gnu, goID string) {
	gnu, goID, _ = elfnote.BuildIDs(b, binary.LittleEndian)
	return gnu, goID
}
