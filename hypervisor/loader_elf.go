package hypervisor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vpmu/vpmu/internal/unix"
)

// Errors of the ELF loader, matched with errors.Is on a *LoadError.
var (
	ErrNotELF      = errors.New("not an ELF file")
	ErrScript      = errors.New("#! scripts are not supported: run the interpreter named on the #! line instead")
	ErrTruncated   = errors.New("truncated ELF file")
	ErrELFClass    = errors.New("not a 64-bit ELF file")
	ErrELFMachine  = errors.New("not an x86-64 ELF file")
	ErrNotExec     = errors.New("not an executable or shared object")
	ErrBadELF      = errors.New("malformed ELF file")
	ErrInterpreter = errors.New("cannot load the ELF interpreter")
)

// LoadError says why a program could not be loaded.
type LoadError struct {
	// Path is the file that failed to load (the program or its
	// interpreter).
	Path string
	// Err is one of the Err* sentinels above, wrapped with detail, or a
	// file-system error.
	Err error
}

func (e *LoadError) Error() string { return "load " + e.Path + ": " + e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

// ELF constants (elf.h).
const (
	elfHeaderSize = 64
	elfPhdrSize   = 56
	etExec        = 2
	etDyn         = 3
	emX86_64      = 62
	ptLoad        = 1
	ptInterp      = 3
	ptPhdr        = 6
	ptGNUStack    = 0x6474e551
	pfX           = 1
	pfW           = 2
	pfR           = 4
	maxPhdrBytes  = 65536 // Linux's limit on the program-header table
	maxInterpLen  = 4096
)

// elfSegment is one PT_LOAD.
type elfSegment struct {
	vaddr, memsz uint64
	off, filesz  uint64
	prot         int
}

// elfPlan is what the loader does with an ELF file, decided without
// touching guest memory: parseELF is pure, so it is fuzzed.
type elfPlan struct {
	dyn    bool // ET_DYN: position independent, loaded at a bias
	entry  uint64
	segs   []elfSegment
	interp string // PT_INTERP, "" for none
	// phdrVaddr is where the program headers are in memory (before the
	// bias), for AT_PHDR; phnum for AT_PHNUM.
	phdrVaddr uint64
	phnum     int
	execStack bool
	// lo and hi are the page-aligned span of the PT_LOAD segments.
	lo, hi uint64
}

// machineName names common e_machine values for error messages.
func machineName(m uint16) string {
	switch m {
	case 3:
		return "i386"
	case 40:
		return "ARM"
	case 183:
		return "AArch64"
	case 243:
		return "RISC-V"
	default:
		return fmt.Sprintf("machine %d", m)
	}
}

// parseELF reads the ELF header and program headers of an executable and
// returns its load plan, or an error wrapping one of the sentinels.
func parseELF(r io.ReaderAt, size int64) (*elfPlan, error) {
	var hdr [elfHeaderSize]byte
	n, _ := r.ReadAt(hdr[:], 0)
	switch {
	case n >= 2 && hdr[0] == '#' && hdr[1] == '!':
		return nil, ErrScript
	case n < 4 || !bytes.Equal(hdr[:4], []byte("\x7fELF")):
		return nil, ErrNotELF
	case n < elfHeaderSize:
		return nil, fmt.Errorf("%w: %d-byte header", ErrTruncated, n)
	case hdr[4] != 2:
		return nil, fmt.Errorf("%w (class %d: 32-bit)", ErrELFClass, hdr[4])
	case hdr[5] != 1:
		return nil, fmt.Errorf("%w: not little-endian", ErrBadELF)
	}
	le := binary.LittleEndian
	typ, mach := le.Uint16(hdr[16:]), le.Uint16(hdr[18:])
	if mach != emX86_64 {
		return nil, fmt.Errorf("%w (%s)", ErrELFMachine, machineName(mach))
	}
	if typ != etExec && typ != etDyn {
		return nil, fmt.Errorf("%w (e_type %d)", ErrNotExec, typ)
	}
	p := &elfPlan{dyn: typ == etDyn, entry: le.Uint64(hdr[24:])}
	phoff, phentsize, phnum := le.Uint64(hdr[32:]), le.Uint16(hdr[54:]), le.Uint16(hdr[56:])
	if phentsize != elfPhdrSize || phnum == 0 || int(phnum)*elfPhdrSize > maxPhdrBytes {
		return nil, fmt.Errorf("%w: %d program headers of %d bytes", ErrBadELF, phnum, phentsize)
	}
	phBytes := uint64(phnum) * elfPhdrSize
	if phoff > uint64(size) || phBytes > uint64(size)-phoff {
		return nil, fmt.Errorf("%w: program headers beyond the end of the file", ErrTruncated)
	}
	ph := make([]byte, phBytes)
	if n, _ := r.ReadAt(ph, int64(phoff)); uint64(n) != phBytes {
		return nil, fmt.Errorf("%w: program headers beyond the end of the file", ErrTruncated)
	}
	p.phnum = int(phnum)
	havePhdr := false
	for i := 0; i < int(phnum); i++ {
		e := ph[i*elfPhdrSize:]
		typ, flags := le.Uint32(e[0:]), le.Uint32(e[4:])
		off, vaddr, filesz, memsz := le.Uint64(e[8:]), le.Uint64(e[16:]), le.Uint64(e[32:]), le.Uint64(e[40:])
		switch typ {
		case ptLoad:
			if err := p.addLoad(off, vaddr, filesz, memsz, flags, uint64(size)); err != nil {
				return nil, fmt.Errorf("segment %d: %w", i, err)
			}
		case ptInterp:
			if p.interp != "" || filesz < 2 || filesz > maxInterpLen || off > uint64(size) || filesz > uint64(size)-off {
				return nil, fmt.Errorf("%w: bad PT_INTERP", ErrBadELF)
			}
			b := make([]byte, filesz)
			if n, _ := r.ReadAt(b, int64(off)); uint64(n) != filesz {
				return nil, fmt.Errorf("%w: PT_INTERP beyond the end of the file", ErrTruncated)
			}
			i := bytes.IndexByte(b, 0)
			if i <= 0 {
				return nil, fmt.Errorf("%w: PT_INTERP not a NUL-terminated path", ErrBadELF)
			}
			p.interp = string(b[:i])
		case ptPhdr:
			p.phdrVaddr, havePhdr = vaddr, true
		case ptGNUStack:
			p.execStack = flags&pfX != 0
		}
	}
	if len(p.segs) == 0 {
		return nil, fmt.Errorf("%w: no PT_LOAD segment", ErrBadELF)
	}
	if !havePhdr {
		// As Linux: the headers are where the segment that holds phoff
		// maps them.
		for _, s := range p.segs {
			if phoff >= s.off && phoff+phBytes <= s.off+s.filesz {
				p.phdrVaddr, havePhdr = s.vaddr+(phoff-s.off), true
				break
			}
		}
	}
	if p.hi-p.lo > userTop-userMin {
		return nil, fmt.Errorf("%w: segments span %#x bytes", ErrBadELF, p.hi-p.lo)
	}
	if !p.dyn && (p.lo < userMin || p.hi > userTop) {
		return nil, fmt.Errorf("%w: segments at [%#x, %#x) outside the address space [%#x, %#x)", ErrBadELF, p.lo, p.hi, userMin, uint64(userTop))
	}
	return p, nil
}

// addLoad validates and records a PT_LOAD.
func (p *elfPlan) addLoad(off, vaddr, filesz, memsz uint64, flags uint32, size uint64) error {
	switch {
	case filesz > memsz:
		return fmt.Errorf("%w: file size %#x larger than memory size %#x", ErrBadELF, filesz, memsz)
	case off&pageMask != vaddr&pageMask:
		return fmt.Errorf("%w: offset %#x and address %#x not congruent modulo the page size", ErrBadELF, off, vaddr)
	case off > size || filesz > size-off:
		return fmt.Errorf("%w: contents beyond the end of the file", ErrTruncated)
	case vaddr+memsz < vaddr || vaddr+memsz > 1<<47:
		return fmt.Errorf("%w: address %#x+%#x out of range", ErrBadELF, vaddr, memsz)
	}
	if n := len(p.segs); n > 0 && vaddr < p.segs[n-1].vaddr {
		return fmt.Errorf("%w: PT_LOAD segments not in address order", ErrBadELF)
	}
	prot := 0
	if flags&pfR != 0 {
		prot |= unix.PROT_READ
	}
	if flags&pfW != 0 {
		prot |= unix.PROT_WRITE
	}
	if flags&pfX != 0 {
		prot |= unix.PROT_EXEC
	}
	p.segs = append(p.segs, elfSegment{vaddr: vaddr, memsz: memsz, off: off, filesz: filesz, prot: prot})
	lo := pageDown(vaddr)
	hi, _ := pageUp(vaddr + memsz)
	if len(p.segs) == 1 || lo < p.lo {
		p.lo = lo
	}
	if hi > p.hi {
		p.hi = hi
	}
	return nil
}
