package symbolize

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// maxInflation bounds the decompressed size of a compressed section
// relative to its size in the file; DWARF compresses 3-10x, a zlib bomb
// far more.
const maxInflation = 64

// checkHeader checks, before debug/elf reads anything, that the ELF
// header's program- and section-header tables and the section-name table
// lie inside the file. debug/elf sizes its reads from these fields and
// would otherwise allocate up to its 10 MB read chunk for each bogus one.
func checkHeader(r io.ReaderAt, size int64) error {
	var h [64]byte
	n, _ := r.ReadAt(h[:], 0)
	if n < 52 || string(h[:4]) != elf.ELFMAG {
		return fmt.Errorf("not an ELF file")
	}
	var bo binary.ByteOrder
	switch elf.Data(h[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return fmt.Errorf("unknown ELF data encoding %d", h[elf.EI_DATA])
	}
	// Field offsets of the ELF header and of a section header, by class.
	var phoff, shoff uint64
	var phentsize, phnum, shentsize, shnum, shstrndx uint64
	var shOffsetAt, shSizeAt, shLinkAt int64
	var word func([]byte) uint64
	switch elf.Class(h[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
		if n < 64 {
			return fmt.Errorf("truncated ELF header")
		}
		word = bo.Uint64
		phoff, shoff = bo.Uint64(h[32:]), bo.Uint64(h[40:])
		phentsize, phnum = uint64(bo.Uint16(h[54:])), uint64(bo.Uint16(h[56:]))
		shentsize, shnum, shstrndx = uint64(bo.Uint16(h[58:])), uint64(bo.Uint16(h[60:])), uint64(bo.Uint16(h[62:]))
		shOffsetAt, shSizeAt, shLinkAt = 24, 32, 40
	case elf.ELFCLASS32:
		word = func(b []byte) uint64 { return uint64(bo.Uint32(b)) }
		phoff, shoff = uint64(bo.Uint32(h[28:])), uint64(bo.Uint32(h[32:]))
		phentsize, phnum = uint64(bo.Uint16(h[42:])), uint64(bo.Uint16(h[44:]))
		shentsize, shnum, shstrndx = uint64(bo.Uint16(h[46:])), uint64(bo.Uint16(h[48:])), uint64(bo.Uint16(h[50:]))
		shOffsetAt, shSizeAt, shLinkAt = 16, 20, 24
	default:
		return fmt.Errorf("unknown ELF class %d", h[elf.EI_CLASS])
	}
	inFile := func(off, n uint64) bool { return off <= uint64(size) && n <= uint64(size)-off }
	field := func(off int64, w int) (uint64, error) {
		var b [8]byte
		if _, err := r.ReadAt(b[:w], off); err != nil {
			return 0, fmt.Errorf("section header field at %#x: %w", off, err)
		}
		return word(b[:w]), nil
	}
	w := int(shSizeAt - shOffsetAt) // 8 for ELF64, 4 for ELF32
	if phnum > 0 && (phentsize == 0 || !inFile(phoff, phnum*phentsize)) {
		return fmt.Errorf("program headers (%d of %d bytes at %#x) extend past the end of the file (%d bytes)", phnum, phentsize, phoff, size)
	}
	if shoff == 0 {
		return nil
	}
	if shentsize == 0 || !inFile(shoff, shentsize) {
		return fmt.Errorf("section headers at %#x lie outside the file (%d bytes)", shoff, size)
	}
	if shnum == 0 || shstrndx == uint64(elf.SHN_XINDEX) {
		// Extended numbering: section 0 holds the real values.
		if shnum == 0 {
			v, err := field(int64(shoff)+shSizeAt, w)
			if err != nil {
				return err
			}
			shnum = v
		}
		if shstrndx == uint64(elf.SHN_XINDEX) {
			v, err := field(int64(shoff)+shLinkAt, 4)
			if err != nil {
				return err
			}
			shstrndx = v & 0xffffffff
		}
	}
	if shnum > uint64(size) || !inFile(shoff, shnum*shentsize) {
		return fmt.Errorf("section headers (%d of %d bytes at %#x) extend past the end of the file (%d bytes)", shnum, shentsize, shoff, size)
	}
	if shstrndx >= shnum {
		return nil // debug/elf reports the bad index itself
	}
	base := int64(shoff + shstrndx*shentsize)
	off, err := field(base+shOffsetAt, w)
	if err != nil {
		return err
	}
	sz, err := field(base+shSizeAt, w)
	if err != nil {
		return err
	}
	if !inFile(off, sz) {
		return fmt.Errorf("section-name table (%d bytes at %#x) extends past the end of the file (%d bytes)", sz, off, size)
	}
	return nil
}

// checkSection reports whether reading s stays inside a file of the given
// size, and within maxInflation of it once decompressed.
func checkSection(s *elf.Section, size int64) error {
	if s.Type == elf.SHT_NOBITS {
		return nil
	}
	if s.Offset > uint64(size) || s.FileSize > uint64(size)-s.Offset {
		return fmt.Errorf("%d bytes at %#x extend past the end of the file (%d bytes)", s.FileSize, s.Offset, size)
	}
	if s.Flags&elf.SHF_COMPRESSED != 0 && s.Size/maxInflation > s.FileSize {
		return fmt.Errorf("compressed from %d to %d bytes: too large", s.FileSize, s.Size)
	}
	return nil
}
