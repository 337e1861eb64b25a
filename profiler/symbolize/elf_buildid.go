package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
)

// Note types and owners of the build-ID notes vpmu reads.
const (
	ntGNUBuildID = 3 // NT_GNU_BUILD_ID, owner "GNU"
	ntGoBuildID  = 4 // the Go linker's build ID note, owner "Go"

	// maxNoteSize bounds how much of a note section or segment is read;
	// real build-ID notes are a few dozen bytes.
	maxNoteSize = 1 << 16
)

// buildIDs returns the file's GNU build ID (hex, as `file` and perf print
// it) and its Go build ID (the string `go tool buildid` prints), either
// empty when absent. Notes are found through the section headers, or
// through the PT_NOTE program headers of a file without sections.
func buildIDs(f *elf.File) (gnu, goID string, err error) {
	var blobs [][]byte
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE || s.Size == 0 {
			continue
		}
		if s.Size > maxNoteSize {
			return "", "", fmt.Errorf("note section %s is %d bytes", s.Name, s.Size)
		}
		b, err := s.Data()
		if err != nil {
			return "", "", fmt.Errorf("note section %s: %w", s.Name, err)
		}
		blobs = append(blobs, b)
	}
	if len(blobs) == 0 {
		for _, p := range f.Progs {
			if p.Type != elf.PT_NOTE || p.Filesz == 0 {
				continue
			}
			if p.Filesz > maxNoteSize {
				return "", "", fmt.Errorf("PT_NOTE segment is %d bytes", p.Filesz)
			}
			b := make([]byte, p.Filesz)
			if _, err := io.ReadFull(p.Open(), b); err != nil {
				return "", "", fmt.Errorf("PT_NOTE segment: %w", err)
			}
			blobs = append(blobs, b)
		}
	}
	for _, b := range blobs {
		g, o, err := parseNotes(b, f.ByteOrder)
		if err != nil {
			return "", "", err
		}
		if gnu == "" {
			gnu = g
		}
		if goID == "" {
			goID = o
		}
	}
	return gnu, goID, nil
}

// parseNotes walks the ELF notes in b (Elf64_Nhdr and Elf32_Nhdr have the
// same layout: namesz, descsz, type, then name and desc padded to 4 bytes)
// and returns the build IDs it finds.
func parseNotes(b []byte, order binary.ByteOrder) (gnu, goID string, err error) {
	for len(b) > 0 {
		if len(b) < 12 {
			return "", "", fmt.Errorf("truncated note header (%d bytes)", len(b))
		}
		namesz := uint64(order.Uint32(b[0:]))
		descsz := uint64(order.Uint32(b[4:]))
		typ := order.Uint32(b[8:])
		b = b[12:]
		nameEnd := align4(namesz)
		descEnd := nameEnd + align4(descsz)
		if nameEnd > uint64(len(b)) || descEnd > uint64(len(b)) {
			return "", "", fmt.Errorf("note of type %d overruns its section (name %d, desc %d bytes, %d left)", typ, namesz, descsz, len(b))
		}
		name := string(bytes.TrimRight(b[:namesz], "\x00"))
		desc := b[nameEnd : nameEnd+descsz]
		switch {
		case name == "GNU" && typ == ntGNUBuildID && gnu == "":
			gnu = hex.EncodeToString(desc)
		case name == "Go" && typ == ntGoBuildID && goID == "":
			goID = string(desc)
		}
		b = b[descEnd:]
	}
	return gnu, goID, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
