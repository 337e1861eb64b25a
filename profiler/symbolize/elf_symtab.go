package symbolize

import (
	"debug/elf"
	"errors"
	"fmt"
	"sort"
	"strings"
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
// stripped shared object has only the latter) for buildSymtab. It returns
// an error per unreadable table, and whatever the readable ones held.
//
// Tables whose section or string table is in bad (data outside the file)
// are not read; the error names the section.
func readSymtab(f *elf.File, bad map[*elf.Section]error) ([]rawSym, []error) {
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
			rank := bindRank(elf.ST_BIND(s.Info) == elf.STB_GLOBAL, elf.ST_BIND(s.Info) == elf.STB_WEAK)
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
	return raw, errs
}

// buildSymtab sorts the candidates, keeps the preferred alias at each
// address (see betterAlias) and computes each symbol's end.
func buildSymtab(raw []rawSym) symtab {
	sort.SliceStable(raw, func(i, j int) bool {
		a, b := raw[i], raw[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		return betterAlias(a.rank, a.name, b.rank, b.name)
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

// bindRank orders symbol bindings the way perf chooses among aliases: a
// global symbol, then a local one, then a weak one.
func bindRank(global, weak bool) int {
	switch {
	case global:
		return 0
	case weak:
		return 2
	}
	return 1
}

// betterAlias reports whether symbol a should name an address rather than
// symbol b at the same address, by perf's rule so that profiles read the
// same: lower rank (sized, then by binding), then fewer leading
// underscores (memcpy over __memcpy), then the longer name. Callers sort
// stably, so a full tie goes to the symbol listed first, as in perf.
func betterAlias(rankA int, a string, rankB int, b string) bool {
	if rankA != rankB {
		return rankA < rankB
	}
	ua, ub := len(a)-len(strings.TrimLeft(a, "_")), len(b)-len(strings.TrimLeft(b, "_"))
	if ua != ub {
		return ua < ub
	}
	return len(a) > len(b)
}
