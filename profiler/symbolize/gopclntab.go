package symbolize

import (
	"debug/elf"
	"debug/gosym"
	"fmt"
)

// goTable is the Go runtime's own symbol table (pclntab), read through
// debug/gosym. Every Go binary has it, even one stripped with -s -w,
// because the runtime needs it for tracebacks.
//
// debug/gosym does not expose the inline tree that pclntab also holds, so
// this table gives one frame per address: the function the code was
// compiled into, with the file and line of the code itself. For code
// inlined from another function that file and line belong to the inlined
// callee. Binaries that keep their DWARF (the default; -w removes it) get
// full inline frames from DWARF instead.
type goTable struct {
	path string
	text uint64
	data []byte
	t    *gosym.Table // built on first use
	err  error
	done bool
}

// readGoPclntab returns the raw pclntab of a Go binary, or nil when the
// file has none.
func readGoPclntab(path string, f *elf.File) (*goTable, error) {
	s := f.Section(".gopclntab")
	if s == nil {
		s = f.Section(".data.rel.ro.gopclntab") // some PIE layouts
	}
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	data, err := s.Data()
	if err != nil {
		return nil, &FileError{Path: path, Section: s.Name, Err: err}
	}
	g := &goTable{path: path, data: data}
	if t := f.Section(".text"); t != nil {
		g.text = t.Addr
	}
	return g, nil
}

// table builds the gosym table on first use; it walks every function, so
// binaries with DWARF that never need it do not pay for it.
func (g *goTable) table() (*gosym.Table, error) {
	if g.done {
		return g.t, g.err
	}
	g.done = true
	g.err = protect(g.path, ".gopclntab", func() error {
		t, err := gosym.NewTable(nil, gosym.NewLineTable(g.data, g.text))
		if err != nil {
			return err
		}
		if len(t.Funcs) == 0 {
			return fmt.Errorf("no functions in pclntab")
		}
		g.t = t
		return nil
	})
	g.data = nil
	return g.t, g.err
}

// frame returns the function, file and line of pc.
func (g *goTable) frame(pc uint64) (Frame, bool, error) {
	t, err := g.table()
	if t == nil {
		return Frame{}, false, err
	}
	var f Frame
	var ok bool
	err = protect(g.path, ".gopclntab", func() error {
		file, line, fn := t.PCToLine(pc)
		if fn == nil {
			return nil
		}
		// StartLine stays 0: pclntab records the declaration line,
		// but debug/gosym does not expose it, and the line of the
		// entry PC is the first statement's, not the declaration's.
		f = Frame{Function: fn.Name, File: file, Line: line}
		ok = true
		return nil
	})
	return f, ok, err
}
