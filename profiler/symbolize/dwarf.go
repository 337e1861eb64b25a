package symbolize

import (
	"debug/dwarf"
	"fmt"
)

// dwarfIndex finds the compilation unit of an address and decodes units
// lazily, on the first lookup that lands in them: a profile touches a few
// units of a large binary.
//
// It is not safe for concurrent use; Binary serializes lookups.
type dwarfIndex struct {
	path  string
	d     *dwarf.Data
	spans spanSet[dwarf.Offset] // unit PC ranges -> unit DIE offset
	// unitOffs lists the DIE offset of every unit in file order, so the
	// unit of any DIE offset can be found.
	unitOffs []dwarf.Offset
	units    map[dwarf.Offset]*unit
	// names caches function names by the offset of the DIE that defines
	// them (abstract origins and specifications are shared by many
	// inlined instances).
	names map[dwarf.Offset]funcName
}

// newDWARFIndex lists the units and their PC ranges. Units without ranges
// cannot be found by address and are left out.
func newDWARFIndex(path string, d *dwarf.Data) (*dwarfIndex, error) {
	x := &dwarfIndex{path: path, d: d, units: make(map[dwarf.Offset]*unit), names: make(map[dwarf.Offset]funcName)}
	var spans []span[dwarf.Offset]
	err := protect(path, ".debug_info", func() error {
		r := d.Reader()
		for {
			e, err := r.Next()
			if err != nil {
				return fmt.Errorf("reading units: %w", err)
			}
			if e == nil {
				return nil
			}
			if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
				x.unitOffs = append(x.unitOffs, e.Offset)
				ranges, err := d.Ranges(e)
				if err != nil {
					return fmt.Errorf("ranges of unit at offset %#x: %w", e.Offset, err)
				}
				for _, rg := range ranges {
					spans = append(spans, span[dwarf.Offset]{lo: rg[0], hi: rg[1], v: e.Offset})
				}
			}
			r.SkipChildren()
		}
	})
	x.spans = newSpanSet(spans)
	return x, err
}

// unitFor returns the decoded unit whose ranges contain pc, or nil.
func (x *dwarfIndex) unitFor(pc uint64) (*unit, error) {
	off, ok := x.spans.find(pc)
	if !ok {
		return nil, nil
	}
	return x.unit(off)
}

// unit decodes (once) the unit at off. A unit that fails to decode is
// remembered with its error, and the error is returned on every lookup
// that lands in it.
func (x *dwarfIndex) unit(off dwarf.Offset) (*unit, error) {
	if u, ok := x.units[off]; ok {
		return u, u.err
	}
	u := &unit{off: off}
	u.err = protect(x.path, ".debug_info", func() error { return x.decodeUnit(u) })
	x.units[off] = u
	return u, u.err
}

// frames resolves pc to its chain of functions, innermost (inlined) first.
// ok is false when no unit or function covers pc.
func (x *dwarfIndex) frames(pc uint64) ([]Frame, bool, error) {
	u, err := x.unitFor(pc)
	if u == nil {
		return nil, false, err
	}
	file, line := u.line(pc)
	var buf [8]*funcNode
	chain := u.chain(pc, buf[:0])
	if len(chain) == 0 {
		if line == 0 {
			return nil, false, err
		}
		// A line but no function DIE: the caller names the function
		// from the symbol table.
		return []Frame{{File: file, Line: line}}, true, err
	}
	out := make([]Frame, len(chain))
	for k := len(chain) - 1; k >= 0; k-- {
		n := chain[k]
		f := Frame{Function: n.name, StartLine: n.declLine}
		if k == len(chain)-1 {
			f.File, f.Line = file, line
		} else {
			inner := chain[k+1]
			f.File, f.Line = inner.callFile, inner.callLine
		}
		if f.File == "" {
			f.File = n.declFile
		}
		out[len(chain)-1-k] = f
	}
	return out, true, err
}
