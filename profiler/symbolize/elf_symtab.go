package symbolize

import (
	"debug/elf"
	"errors"
	"fmt"
	"sort"
)

// symbol is one function symbol: [addr, end) in the file's virtual
// addresses. For a symbol without a size, end is the next symbol's start
// or the end of its section (the "nearest preceding symbol" rule).
type symbol struct {
	addr, end uint64
	name      string
}

// symtab is the sorted, de-duplicated function symbols of a file.
type symtab struct {
	syms []symbol
}

// rawSym is a candidate while the table is built.
type rawSym struct {
	addr, size uint64
	sectEnd    uint64
	name       string
	rank       int // lower is preferred among aliases at one address
}

// readSymtab collects the function symbols of .symtab and .dynsym (a
// stripped shared object has only the latter). It returns an error per
// unreadable table, and whatever the readable ones held.
//
// Tables whose section or string table is in bad (data outside the file)
// are not read; the error names the section.
func readSymtab(f *elf.File, bad map[*elf.Section]error) (symtab, []error) {
	var raw []rawSym
	var errs []error
	// usable reports whether the table of the given type and its string
	// table can be read.
	usable := func(typ elf.SectionType) error {
		for _, s := range f.Sections {
			if s.Type != typ {
				continue
			}
			if err := bad[s]; err != nil {
				return err
			}
			if int(s.Link) < len(f.Sections) {
				if err := bad[f.Sections[s.Link]]; err != nil {
					return fmt.Errorf("string table: %w", err)
				}
			}
			return nil
		}
		return nil
	}
	add := func(syms []elf.Symbol, err error, section string) {
		if err != nil {
			if !errors.Is(err, elf.ErrNoSymbols) {
				errs = append(errs, &FileError{Section: section, Err: err})
			}
			return
		}
		for _, s := range syms {
			typ := elf.ST_TYPE(s.Info)
			if typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC {
				continue
			}
			if s.Value == 0 || s.Section == elf.SHN_UNDEF || s.Name == "" {
				continue
			}
			var sectEnd uint64
			if i := int(s.Section); s.Section < elf.SHN_LORESERVE && i < len(f.Sections) {
				sec := f.Sections[i]
				sectEnd = sec.Addr + sec.Size
			}
			rank := 0
			switch elf.ST_BIND(s.Info) {
			case elf.STB_GLOBAL:
			case elf.STB_WEAK:
				rank = 1
			default:
				rank = 2
			}
			if s.Size == 0 {
				rank += 4
			}
			raw = append(raw, rawSym{addr: s.Value, size: s.Size, sectEnd: sectEnd, name: s.Name, rank: rank})
		}
	}
	if err := usable(elf.SHT_SYMTAB); err != nil {
		add(nil, err, ".symtab")
	} else {
		syms, err := f.Symbols()
		add(syms, err, ".symtab")
	}
	if err := usable(elf.SHT_DYNSYM); err != nil {
		add(nil, err, ".dynsym")
	} else {
		dyn, err := f.DynamicSymbols()
		add(dyn, err, ".dynsym")
	}
	return buildSymtab(raw), errs
}

// buildSymtab sorts the candidates, keeps the preferred alias at each
// address (sized over zero-size, global over weak over local, then the
// shorter and lexically smaller name, so the choice is deterministic) and
// computes each symbol's end.
func buildSymtab(raw []rawSym) symtab {
	sort.Slice(raw, func(i, j int) bool {
		a, b := raw[i], raw[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if len(a.name) != len(b.name) {
			return len(a.name) < len(b.name)
		}
		return a.name < b.name
	})
	out := make([]symbol, 0, len(raw))
	sizes := make([]rawSym, 0, len(raw))
	for _, r := range raw {
		if n := len(sizes); n > 0 && sizes[n-1].addr == r.addr {
			continue
		}
		sizes = append(sizes, r)
		out = append(out, symbol{addr: r.addr, name: r.name})
	}
	for i, r := range sizes {
		switch {
		case r.size > 0 && r.addr+r.size > r.addr:
			out[i].end = r.addr + r.size
		case i+1 < len(sizes):
			out[i].end = sizes[i+1].addr
		default:
			out[i].end = r.sectEnd
		}
		if r.size == 0 && r.sectEnd > r.addr && out[i].end > r.sectEnd {
			out[i].end = r.sectEnd
		}
	}
	return symtab{syms: out}
}

// lookup returns the function symbol containing the file address addr.
func (t *symtab) lookup(addr uint64) (symbol, bool) {
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].addr > addr }) - 1
	if i < 0 {
		return symbol{}, false
	}
	s := t.syms[i]
	if addr >= s.end {
		return symbol{}, false
	}
	return s, true
}
