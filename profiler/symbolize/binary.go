package symbolize

import (
	"fmt"
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
	// DebugFile is the separate debug file symbols or DWARF came from
	// (see Options.DebugDirs), or "".
	DebugFile string
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
// Sources are tried in order: DWARF (lines, inline chains, names of
// inlined functions), the ELF symbol tables (names of out-of-line
// functions, as perf shows them), then the Go pclntab. An error reports a
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
		// The out-of-line function is named by its symbol, as perf
		// names it: the symbol keeps a compiler clone's suffix
		// (foo.constprop.0, foo.cold) and the preferred alias where
		// DWARF has an internal one (__GI_mprotect for mprotect).
		// DWARF names the inlined frames, which have no symbol. Go
		// binaries keep the DWARF name, which is the pclntab's and
		// runtime/pprof's (the symbol table adds ABI suffixes such as
		// runtime.rt0_go.abi0).
		if last := &frames[len(frames)-1]; hasSym && (last.Function == "" || b.gotab == nil) {
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
