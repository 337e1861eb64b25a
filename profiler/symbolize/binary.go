package symbolize

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Frame is one function activation at an address: the function, and the
// source position of the code at that address within it.
type Frame struct {
	// Function is the symbol name as the binary spells it (mangled for
	// C++ and Rust: pprof demangles for display), "" when unknown.
	Function string
	// File is the source file of Line, "" when unknown.
	File string
	// Line is the source line, 0 when unknown.
	Line int
	// StartLine is the line where Function is declared, 0 when unknown.
	StartLine int
}

// Info describes what a binary offers to symbolization.
type Info struct {
	Path string
	// BuildID is the GNU build ID in lowercase hex, or the Go build ID
	// when the file has no GNU one (Go's linker writes only its own),
	// or "" when the file has neither.
	BuildID string
	// Go reports whether the file has a Go pclntab.
	Go bool
	// HasFunctions, HasFilenames, HasLineNumbers and HasInlineFrames say
	// which kinds of information some part of the file provides. The
	// profiler sets the same-named pprof mapping flags from what each
	// lookup actually returned, not from these.
	HasFunctions, HasFilenames, HasLineNumbers, HasInlineFrames bool
}

// segment is one PT_LOAD program header.
type segment struct {
	vaddr, off, filesz uint64
}

// Binary is one opened ELF file with its symbol sources decoded (lazily,
// for DWARF units and the Go pclntab). It holds no file descriptor.
//
// A Binary is safe for concurrent use.
type Binary struct {
	info     Info
	segs     []segment
	syms     symtab
	problems []error

	mu    sync.Mutex // serializes lazy decoding in dwarf and gotab
	dwarf *dwarfIndex
	gotab *goTable
}

// openBinary reads path. wantID, when not empty, must equal the file's
// GNU or Go build ID. Only a file that cannot be used at all is an error;
// damaged sections are recorded in Problems and skipped.
func openBinary(path, wantID string) (*Binary, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	defer osf.Close()
	st, err := osf.Stat()
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return readBinary(path, osf, st.Size(), wantID)
}

// readBinary decodes the ELF file of the given size in r; path names it
// in errors. Every section the lookups need is read into memory before it
// returns, so r may be closed afterwards.
func readBinary(path string, r io.ReaderAt, size int64, wantID string) (*Binary, error) {
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
	// Sections whose data lies outside the file are never read: their
	// consumers are skipped and the section reported.
	bad := make(map[*elf.Section]error)
	for _, s := range f.Sections {
		if err := checkSection(s, size); err != nil {
			bad[s] = err
		}
	}
	badErr := func(names ...string) error {
		for _, s := range f.Sections {
			for _, n := range names {
				if s.Name == n && bad[s] != nil {
					return &FileError{Path: path, Section: s.Name, Err: bad[s]}
				}
			}
		}
		return nil
	}
	b := &Binary{info: Info{Path: path}}

	var gnuID, goID string
	if err := protect(path, "notes", func() (err error) {
		gnuID, goID, err = buildIDs(f)
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

	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Filesz > 0 {
			b.segs = append(b.segs, segment{vaddr: p.Vaddr, off: p.Off, filesz: p.Filesz})
		}
	}
	if len(b.segs) == 0 {
		return nil, &FileError{Path: path, Section: "program headers", Err: fmt.Errorf("no loadable segment (not an executable or shared object)")}
	}

	var errs []error
	if err := protect(path, ".symtab", func() error {
		b.syms, errs = readSymtab(f, bad)
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	for _, e := range errs {
		if fe, ok := e.(*FileError); ok && fe.Path == "" {
			fe.Path = path
		}
		b.problems = append(b.problems, e)
	}

	var debugNames []string
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			debugNames = append(debugNames, s.Name)
		}
	}
	if err := badErr(debugNames...); err != nil {
		b.problems = append(b.problems, err)
	} else if f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil {
		if err := protect(path, ".debug_info", func() error {
			d, err := f.DWARF()
			if err != nil {
				return err
			}
			b.dwarf, err = newDWARFIndex(path, d)
			return err
		}); err != nil {
			b.problems = append(b.problems, err)
		}
	}

	if err := badErr(".gopclntab", ".data.rel.ro.gopclntab"); err != nil {
		b.problems = append(b.problems, err)
	} else if err := protect(path, ".gopclntab", func() (err error) {
		b.gotab, err = readGoPclntab(path, f)
		return err
	}); err != nil {
		b.problems = append(b.problems, err)
	}

	b.info.Go = b.gotab != nil
	hasDWARF := b.dwarf != nil && len(b.dwarf.spans.s) > 0
	b.info.HasFunctions = len(b.syms.syms) > 0 || hasDWARF || b.info.Go
	b.info.HasFilenames = hasDWARF || b.info.Go
	b.info.HasLineNumbers = b.info.HasFilenames
	b.info.HasInlineFrames = hasDWARF
	return b, nil
}

// Info describes the binary.
func (b *Binary) Info() Info { return b.info }

// Problems lists the damaged or unreadable parts of the file found when it
// was opened, each a *FileError naming the section. The rest of the file
// is used regardless.
func (b *Binary) Problems() []error { return b.problems }

// Translate turns a runtime address into the file's own virtual address
// (the one its symbols and DWARF use). start and offset describe the
// mapping that holds addr, as /proc/PID/maps and perf MMAP records give
// them: the mapping's first address and the file offset mapped there. This
// accounts for PIE and shared-object load bias, and for segments whose
// virtual and file layouts differ. The error matches [ErrNotMapped] when
// addr is outside every loadable segment.
func (b *Binary) Translate(start, offset, addr uint64) (uint64, error) {
	if addr < start {
		return 0, fmt.Errorf("address %#x below mapping start %#x: %w", addr, start, ErrNotMapped)
	}
	off := addr - start + offset
	for _, s := range b.segs {
		if s.off <= off && off-s.off < s.filesz {
			return s.vaddr + (off - s.off), nil
		}
	}
	return 0, fmt.Errorf("%s: file offset %#x of address %#x: %w", b.info.Path, off, addr, ErrNotMapped)
}

// Frames returns the functions active at the file address addr (see
// Translate), innermost first: code inlined into a caller yields the
// inlined function, then its caller, each with its own source position.
// Without debug information there is one frame with the symbol name only.
// It returns no frames when no function covers addr: padding between
// functions has a line-table row in some binaries but is no function's.
//
// Sources are tried in order: DWARF (names, lines, inline chains), then
// the ELF symbol tables for names, then the Go pclntab. An error reports a
// damaged part of the file met during this lookup; the frames returned
// alongside are what the remaining sources gave.
func (b *Binary) Frames(addr uint64) ([]Frame, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var derr error
	var frames []Frame
	if b.dwarf != nil {
		var ok bool
		frames, ok, derr = b.dwarf.frames(addr)
		if !ok {
			frames = nil
		}
	}
	sym, hasSym := b.syms.lookup(addr)
	if len(frames) > 0 {
		// DWARF without a subprogram DIE, or one without a name: the
		// outermost frame takes the symbol's name.
		if last := &frames[len(frames)-1]; last.Function == "" && hasSym {
			last.Function = sym.name
		}
		if frames[len(frames)-1].Function != "" {
			// Go's DWARF gives line 0 to some generated code that
			// the pclntab places; the pclntab position is the
			// innermost code's, like the DWARF one it replaces.
			if in := &frames[0]; in.Line == 0 && b.gotab != nil {
				if f, ok, _ := b.gotab.frame(addr); ok && f.Line != 0 {
					in.File, in.Line = f.File, f.Line
				}
			}
			return frames, derr
		}
	}
	if b.gotab != nil {
		f, ok, err := b.gotab.frame(addr)
		if ok {
			return []Frame{f}, err
		}
		if derr == nil {
			derr = err
		}
	}
	if hasSym {
		return []Frame{{Function: sym.name}}, derr
	}
	// A line-table row alone (alignment padding between functions is
	// often covered by the previous function's last row) names nothing.
	return nil, derr
}
