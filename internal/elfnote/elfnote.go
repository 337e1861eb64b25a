// Package elfnote reads the build IDs in ELF notes, for the symbolizer
// (from files) and the VMM (from guest memory).
package elfnote

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Note types of the build IDs.
const (
	TypeGNUBuildID = 3 // NT_GNU_BUILD_ID, owner "GNU"
	TypeGoBuildID  = 4 // the Go linker's build ID note, owner "Go"
)

// BuildIDs walks the ELF notes in b (Elf64_Nhdr and Elf32_Nhdr have the
// same layout: namesz, descsz, type, then name and desc padded to 4
// bytes) and returns the first non-empty GNU build ID, in hex, and Go
// build ID it finds. A malformed note ends the walk with an error; the
// IDs found before it are returned with it.
func BuildIDs(b []byte, order binary.ByteOrder) (gnu, goID string, err error) {
	for len(b) > 0 {
		if len(b) < 12 {
			return gnu, goID, fmt.Errorf("truncated note header (%d bytes)", len(b))
		}
		namesz := uint64(order.Uint32(b[0:]))
		descsz := uint64(order.Uint32(b[4:]))
		typ := order.Uint32(b[8:])
		b = b[12:]
		nameEnd := align4(namesz)
		descEnd := nameEnd + align4(descsz)
		if nameEnd > uint64(len(b)) || descEnd > uint64(len(b)) {
			return gnu, goID, fmt.Errorf("note of type %d overruns its section (name %d, desc %d bytes, %d left)", typ, namesz, descsz, len(b))
		}
		name := string(bytes.TrimRight(b[:namesz], "\x00"))
		desc := b[nameEnd : nameEnd+descsz]
		switch {
		case len(desc) == 0:
		case name == "GNU" && typ == TypeGNUBuildID && gnu == "":
			gnu = hex.EncodeToString(desc)
		case name == "Go" && typ == TypeGoBuildID && goID == "":
			goID = string(desc)
		}
		b = b[descEnd:]
	}
	return gnu, goID, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
