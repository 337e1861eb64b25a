package symbolize

import (
	"debug/dwarf"
	"sort"
)

// funcName is what a function DIE (or the abstract instance or
// declaration it refers to) says about the function.
type funcName struct {
	name     string
	declFile int64
	declLine int64
	// unit is the unit of the DIE that gave declFile: the index is only
	// meaningful in that unit's file table. 0 when unknown (a unit's
	// DIE follows its header, so no unit DIE is at offset 0).
	unit dwarf.Offset
}

// maxOriginDepth bounds the chain of DW_AT_abstract_origin and
// DW_AT_specification references followed for one name.
const maxOriginDepth = 8

// funcName returns the name of the function e describes, following
// abstract-origin and specification references for what e lacks. The
// linkage (mangled) name is preferred over the plain name, as in symbol
// tables: pprof demangles it for display and it is qualified. Results are
// cached by DIE offset.
func (x *dwarfIndex) funcName(e *dwarf.Entry, depth int) funcName {
	if fn, ok := x.names[e.Offset]; ok {
		return fn
	}
	var fn funcName
	if s, ok := e.Val(dwarf.AttrLinkageName).(string); ok {
		fn.name = s
	} else if s, ok := e.Val(dwarf.AttrName).(string); ok {
		fn.name = s
	}
	if v, ok := e.Val(dwarf.AttrDeclFile).(int64); ok {
		fn.declFile = v
		fn.unit = x.unitOf(e.Offset)
	}
	if v, ok := e.Val(dwarf.AttrDeclLine).(int64); ok {
		fn.declLine = v
	}
	if (fn.name == "" || fn.declLine == 0) && depth < maxOriginDepth {
		for _, a := range []dwarf.Attr{dwarf.AttrAbstractOrigin, dwarf.AttrSpecification} {
			ref, ok := e.Val(a).(dwarf.Offset)
			if !ok || ref == e.Offset {
				continue
			}
			oe := x.entryAt(ref)
			if oe == nil {
				continue
			}
			o := x.funcName(oe, depth+1)
			if fn.name == "" {
				fn.name = o.name
			}
			if fn.declLine == 0 && o.declLine != 0 {
				fn.declFile, fn.declLine, fn.unit = o.declFile, o.declLine, o.unit
			}
			break
		}
	}
	x.names[e.Offset] = fn
	return fn
}

// entryAt reads the DIE at off, or returns nil if there is none.
func (x *dwarfIndex) entryAt(off dwarf.Offset) *dwarf.Entry {
	r := x.d.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil || e.Offset != off {
		return nil
	}
	return e
}

// unitOf returns the DIE offset of the unit that holds the DIE at off.
func (x *dwarfIndex) unitOf(off dwarf.Offset) dwarf.Offset {
	i := sort.Search(len(x.unitOffs), func(i int) bool { return x.unitOffs[i] > off }) - 1
	if i < 0 {
		return 0
	}
	return x.unitOffs[i]
}
