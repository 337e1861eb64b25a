package symbolize

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"io"
	"sort"
)

// unit is one decoded compilation unit: its line table and the PC ranges
// of its functions with their inlined calls.
type unit struct {
	off dwarf.Offset
	err error
	// files is the line-table file table, indexed as the unit's
	// DW_AT_decl_file and DW_AT_call_file values are.
	files []string
	// rowFiles names the files rows point at; rows[i].file indexes it.
	rowFiles []string
	rows     []lineRow // sorted by addr, end-of-sequence rows first
	funcs    spanSet[*funcNode]
	spans    []span[*funcNode] // funcs under construction
}

// lineRow is one row of the line-number program.
type lineRow struct {
	addr uint64
	file int32
	line int32
	end  bool // DW_LNE_end_sequence: addr is one past the sequence
}

// funcNode is a function instance with code: a concrete subprogram, or an
// inlined call of one inside another.
type funcNode struct {
	name     string
	declFile string
	declLine int
	// callFile and callLine say where an inlined node was called from,
	// in its parent.
	callFile string
	callLine int
	ranges   [][2]uint64
	children []*funcNode
}

func (n *funcNode) contains(pc uint64) bool {
	for _, r := range n.ranges {
		if r[0] <= pc && pc < r[1] {
			return true
		}
	}
	return false
}

// maxInlineDepth bounds the inline chain followed for one address, as
// defence against cyclic or absurd DIE trees.
const maxInlineDepth = 64

// decodeUnit reads the unit at u.off: the line table first (its file
// table resolves the file attributes of the DIEs), then the DIE tree.
func (x *dwarfIndex) decodeUnit(u *unit) error {
	r := x.d.Reader()
	r.Seek(u.off)
	cu, err := r.Next()
	if err != nil {
		return fmt.Errorf("unit at offset %#x: %w", u.off, err)
	}
	if cu == nil || (cu.Tag != dwarf.TagCompileUnit && cu.Tag != dwarf.TagPartialUnit) {
		return fmt.Errorf("no unit at offset %#x", u.off)
	}
	if err := x.decodeLines(u, cu); err != nil {
		return &FileError{Path: x.path, Section: ".debug_line", Err: err}
	}
	if !cu.Children {
		return nil
	}
	// stack holds, for each open DIE with children, the function node
	// that encloses its children (nil outside any function).
	var stack []*funcNode
	for {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("unit at offset %#x: %w", u.off, err)
		}
		if e == nil || e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			break
		}
		if e.Tag == 0 {
			if len(stack) == 0 {
				break // end of the unit's children
			}
			stack = stack[:len(stack)-1]
			continue
		}
		var encl *funcNode
		if len(stack) > 0 {
			encl = stack[len(stack)-1]
		}
		n, err := x.funcNode(u, e, encl)
		if err != nil {
			return err
		}
		if e.Children {
			if n == nil {
				n = encl
			}
			stack = append(stack, n)
		}
	}
	u.funcs = newSpanSet(u.spans)
	u.spans = nil
	return nil
}

// funcNode turns a subprogram or inlined-subroutine DIE with code into a
// node, linked under encl for inlined calls. Other DIEs give nil.
func (x *dwarfIndex) funcNode(u *unit, e *dwarf.Entry, encl *funcNode) (*funcNode, error) {
	if e.Tag != dwarf.TagSubprogram && e.Tag != dwarf.TagInlinedSubroutine {
		return nil, nil
	}
	if e.Tag == dwarf.TagInlinedSubroutine && encl == nil {
		return nil, nil // an inlined call outside any function has no caller to attribute
	}
	ranges, err := x.d.Ranges(e)
	if err != nil {
		return nil, fmt.Errorf("ranges of DIE at offset %#x: %w", e.Offset, err)
	}
	if len(ranges) == 0 {
		return nil, nil // a declaration or an abstract instance
	}
	fn := x.funcName(e, 0)
	n := &funcNode{name: fn.name, declLine: int(fn.declLine), ranges: ranges}
	if fn.unit != 0 && fn.unit == u.off {
		n.declFile = u.file(fn.declFile)
	}
	if e.Tag == dwarf.TagSubprogram {
		for _, rg := range ranges {
			u.spans = append(u.spans, span[*funcNode]{lo: rg[0], hi: rg[1], v: n})
		}
		return n, nil
	}
	if v, ok := e.Val(dwarf.AttrCallFile).(int64); ok {
		n.callFile = u.file(v)
	}
	if v, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
		n.callLine = int(v)
	}
	encl.children = append(encl.children, n)
	return n, nil
}

// decodeLines reads the unit's line table, if it has one.
func (x *dwarfIndex) decodeLines(u *unit, cu *dwarf.Entry) error {
	lr, err := x.d.LineReader(cu)
	if err != nil {
		return err
	}
	if lr == nil {
		return nil
	}
	index := make(map[*dwarf.LineFile]int32)
	var le dwarf.LineEntry
	for {
		if err := lr.Next(&le); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		fi := int32(-1)
		if le.File != nil {
			i, ok := index[le.File]
			if !ok {
				i = int32(len(u.rowFiles))
				index[le.File] = i
				u.rowFiles = append(u.rowFiles, le.File.Name)
			}
			fi = i
		}
		u.rows = append(u.rows, lineRow{addr: le.Address, file: fi, line: int32(le.Line), end: le.EndSequence})
	}
	for _, f := range lr.Files() {
		name := ""
		if f != nil {
			name = f.Name
		}
		u.files = append(u.files, name)
	}
	// Sequences may come in any order; an end-of-sequence row sorts
	// before a row of another sequence that starts at the same address.
	sort.SliceStable(u.rows, func(i, j int) bool {
		a, b := u.rows[i], u.rows[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		return a.end && !b.end
	})
	return nil
}

// file returns the name of file index i of the unit's file table.
func (u *unit) file(i int64) string {
	if i < 0 || i >= int64(len(u.files)) {
		return ""
	}
	return u.files[i]
}

// line returns the file and line of pc from the line table.
func (u *unit) line(pc uint64) (string, int) {
	i := sort.Search(len(u.rows), func(i int) bool { return u.rows[i].addr > pc }) - 1
	if i < 0 || u.rows[i].end || u.rows[i].file < 0 {
		return "", 0
	}
	r := u.rows[i]
	return u.rowFiles[r.file], int(r.line)
}

// chain appends to buf the out-of-line function containing pc followed
// by the inlined calls containing it, outermost first.
func (u *unit) chain(pc uint64, buf []*funcNode) []*funcNode {
	top, ok := u.funcs.find(pc)
	if !ok {
		return buf
	}
	chain := append(buf, top)
	for n := top; len(chain) < maxInlineDepth; {
		next := (*funcNode)(nil)
		for _, c := range n.children {
			if c.contains(pc) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		n = next
	}
	return chain
}
