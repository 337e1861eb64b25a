package symbolize

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/vpmu/vpmu/internal/elfnote"
)

// Note types and owners of the build-ID notes vpmu reads.
const (
	ntGNUBuildID = elfnote.TypeGNUBuildID
	ntGoBuildID  = elfnote.TypeGoBuildID

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

// parseNotes returns the build IDs in the ELF notes b.
func parseNotes(b []byte, order binary.ByteOrder) (gnu, goID string, err error) {
	gnu, goID, err = elfnote.BuildIDs(b, order)
	if err != nil {
		return "", "", err
	}
	return gnu, goID, nil
}
