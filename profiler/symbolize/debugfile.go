package symbolize

import (
	"bytes"
	"debug/elf"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDebugDirs is where distributions install separate debug files
// (Debian's *-dbg and *-dbgsym packages, Fedora's debuginfo).
var DefaultDebugDirs = []string{"/usr/lib/debug"}

// debugFile finds, opens and checks the separate debug file of e, the way
// gdb and perf do: by build ID, DIR/.build-id/xx/yyyy.debug, then by the
// .gnu_debuglink section's name next to the file, in its .debug
// subdirectory, and under DIR plus the file's directory. A candidate must
// carry the same GNU build ID, or, when the file has none, match the
// debuglink CRC. It returns nil when there is none; a candidate that is
// unreadable or does not match is reported in the binary's problems. The
// caller closes the returned file.
func (b *Binary) debugFile(e *elfFile, buildID string, dirs []string) *elfFile {
	var candidates []string
	if len(buildID) > 2 {
		for _, d := range dirs {
			candidates = append(candidates, filepath.Join(d, ".build-id", buildID[:2], buildID[2:]+".debug"))
		}
	}
	link, crc, hasLink := debugLink(e.f)
	if hasLink {
		dir := filepath.Dir(e.path)
		candidates = append(candidates, filepath.Join(dir, link), filepath.Join(dir, ".debug", link))
		for _, d := range dirs {
			candidates = append(candidates, filepath.Join(d, dir, link))
		}
	}
	for _, c := range candidates {
		if c == e.path {
			continue
		}
		f, err := os.Open(c)
		if err != nil {
			continue
		}
		d, err := checkDebugFile(c, f, buildID, crc, hasLink)
		if err != nil {
			f.Close()
			b.problems = append(b.problems, err)
			continue
		}
		d.closer = f
		return d
	}
	return nil
}

// checkDebugFile decodes the candidate debug file c and checks that it
// belongs to the binary.
func checkDebugFile(c string, f *os.File, buildID string, crc uint32, hasCRC bool) (*elfFile, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, &FileError{Path: c, Err: err}
	}
	d, err := loadELF(c, f, st.Size())
	if err != nil {
		return nil, err
	}
	if buildID != "" {
		var got string
		if err := protect(c, "notes", func() (err error) {
			got, _, err = buildIDs(d.f)
			return err
		}); err != nil {
			return nil, err
		}
		if !strings.EqualFold(got, buildID) {
			return nil, &FileError{Path: c, Err: fmt.Errorf("debug file: %w: want %s, file has %q", ErrBuildIDMismatch, buildID, got)}
		}
		return d, nil
	}
	if !hasCRC {
		return nil, &FileError{Path: c, Err: fmt.Errorf("debug file: no build ID or CRC to check it against")}
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
		return nil, &FileError{Path: c, Err: err}
	}
	if h.Sum32() != crc {
		return nil, &FileError{Path: c, Err: fmt.Errorf("debug file: CRC %#x, the binary's debuglink wants %#x", h.Sum32(), crc)}
	}
	return d, nil
}

// debugLink reads .gnu_debuglink: a file name, NUL, padding to 4 bytes,
// and the CRC-32 of the debug file.
func debugLink(f *elf.File) (name string, crc uint32, ok bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil || s.Size > 4096 {
		return "", 0, false
	}
	data, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	i := bytes.IndexByte(data, 0)
	if i <= 0 {
		return "", 0, false
	}
	name = string(data[:i])
	off := (i + 4) &^ 3
	if off+4 > len(data) || strings.ContainsRune(name, '/') {
		return "", 0, false
	}
	return name, f.ByteOrder.Uint32(data[off:]), true
}
