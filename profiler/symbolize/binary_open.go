package symbolize

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"
)

// elfFile is a decoded ELF file whose section extents were checked
// against the file's size.
type elfFile struct {
	path string
	f    *elf.File
	// bad holds the sections whose data lies outside the file: they are
	// never read, their consumers are skipped and the section reported.
	bad map[*elf.Section]error
	// closer, if set, is the open file to close after reading.
	closer io.Closer
}

// loadELF decodes the ELF headers of the file of the given size in r.
func loadELF(path string, r io.ReaderAt, size int64) (*elfFile, error) {
	var f *elf.File
	if err := protect(path, "ELF header", func() (err error) {
		if err := checkHeader(r, size); err != nil {
			return err
		}
		f, err = elf.NewFile(r)
		return err
	}); err != nil {
		return nil, err
	}
	e := &elfFile{path: path, f: f, bad: make(map[*elf.Section]error)}
	for _, s := range f.Sections {
		if err := checkSection(s, size); err != nil {
			e.bad[s] = err
		}
	}
	return e, nil
}

// badErr returns the error of the first named section that is bad.
func (e *elfFile) badErr(names ...string) error {
	for _, s := range e.f.Sections {
		for _, n := range names {
			if s.Name == n && e.bad[s] != nil {
				return &FileError{Path: e.path, Section: s.Name, Err: e.bad[s]}
			}
		}
	}
	return nil
}

// openBinary reads path. wantID, when not empty, must equal the file's
// GNU or Go build ID. Only a file that cannot be used at all is an error;
// damaged sections are recorded in Problems and skipped. A file without
// symbols or DWARF of its own gets them from its separate debug file,
// looked for under debugDirs.
func openBinary(path, wantID string, debugDirs []string) (*Binary, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	defer osf.Close()
	st, err := osf.Stat()
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return readBinary(path, osf, st.Size(), wantID, debugDirs)
}

// readBinary decodes the ELF file of the given size in r; path names it
// in errors. Every section the lookups need is read into memory before it
// returns, so r may be closed afterwards.
func readBinary(path string, r io.ReaderAt, size int64, wantID string, debugDirs []string) (*Binary, error) {
	e, err := loadELF(path, r, size)
	if err != nil {
		return nil, err
	}
	b := &Binary{info: Info{Path: path}}
	var gnuID, goID string
	if err := protect(path, "notes", func() (err error) {
		gnuID, goID, err = buildIDs(e.f)
		return err
	}); err != nil {
		b.problems = append(b.problems, err)
	}
	b.info.BuildID = gnuID
	if gnuID == "" {
		b.info.BuildID = goID
	}
	if wantID != "" && !strings.EqualFold(wantID, gnuID) && wantID != goID {
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w: want %s, file has %q", ErrBuildIDMismatch, wantID, b.info.BuildID)}
	}

	for _, p := range e.f.Progs {
		if p.Type == elf.PT_LOAD && p.Filesz > 0 {
			b.segs = append(b.segs, segment{vaddr: p.Vaddr, off: p.Off, filesz: p.Filesz})
		}
	}
	if len(b.segs) == 0 {
		return nil, &FileError{Path: path, Section: "program headers", Err: fmt.Errorf("no loadable segment (not an executable or shared object)")}
	}

	raw, hasSymtab := b.loadSymbols(e)
	b.loadDWARF(e)
	b.loadGo(e)
	if !hasSymtab || b.dwarf == nil {
		if d := b.debugFile(e, gnuID, debugDirs); d != nil {
			defer d.closer.Close()
			b.info.DebugFile = d.path
			if !hasSymtab {
				more, _ := b.loadSymbols(d)
				raw = append(raw, more...)
			}
			if b.dwarf == nil {
				b.loadDWARF(d)
			}
		}
	}
	b.syms = buildSymtab(raw)

	b.info.Go = b.gotab != nil
	hasDWARF := b.dwarf != nil && len(b.dwarf.spans.s) > 0
	b.info.HasFunctions = len(b.syms.syms) > 0 || hasDWARF || b.info.Go
	b.info.HasFilenames = hasDWARF || b.info.Go
	b.info.HasLineNumbers = b.info.HasFilenames
	b.info.HasInlineFrames = hasDWARF
	return b, nil
}

// loadSymbols reads e's symbol tables; hasSymtab reports a .symtab.
func (b *Binary) loadSymbols(e *elfFile) (raw []rawSym, hasSymtab bool) {
	var errs []error
	if err := protect(e.path, ".symtab", func() error {
		raw, errs = readSymtab(e.f, e.bad)
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	for _, err := range errs {
		if fe, ok := err.(*FileError); ok && fe.Path == "" {
			fe.Path = e.path
		}
		b.problems = append(b.problems, err)
	}
	for _, s := range e.f.Sections {
		hasSymtab = hasSymtab || (s.Type == elf.SHT_SYMTAB && e.bad[s] == nil)
	}
	return raw, hasSymtab
}

// loadDWARF indexes e's DWARF, if it has any.
func (b *Binary) loadDWARF(e *elfFile) {
	var names []string
	for _, s := range e.f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			names = append(names, s.Name)
		}
	}
	if err := e.badErr(names...); err != nil {
		b.problems = append(b.problems, err)
		return
	}
	if s := e.f.Section(".debug_info"); (s == nil || s.Type == elf.SHT_NOBITS) && e.f.Section(".zdebug_info") == nil {
		return
	}
	if err := protect(e.path, ".debug_info", func() error {
		d, err := e.f.DWARF()
		if err != nil {
			return err
		}
		b.dwarf, err = newDWARFIndex(e.path, d)
		return err
	}); err != nil {
		b.problems = append(b.problems, err)
	}
}

// loadGo reads e's Go pclntab, if it has one.
func (b *Binary) loadGo(e *elfFile) {
	if err := e.badErr(".gopclntab", ".data.rel.ro.gopclntab"); err != nil {
		b.problems = append(b.problems, err)
		return
	}
	if err := protect(e.path, ".gopclntab", func() (err error) {
		b.gotab, err = readGoPclntab(e.path, e.f)
		return err
	}); err != nil {
		b.problems = append(b.problems, err)
	}
}
