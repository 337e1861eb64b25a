package symbolize

import (
	"errors"
	"fmt"
)

var (
	// ErrBuildIDMismatch is matched by the error of [Symbolizer.Open]
	// when the file on disk is not the build the caller asked for: its
	// symbols would be wrong, so none are given.
	ErrBuildIDMismatch = errors.New("build ID mismatch")
	// ErrNotMapped is matched by the error of [Binary.Translate] when a
	// runtime address does not fall in any loadable segment of the file.
	ErrNotMapped = errors.New("address not in a loadable segment")
	// ErrKallsymsHidden is matched by the error of [ReadKallsyms] when
	// the kernel hides its symbol addresses (kptr_restrict, or reading
	// without privilege shows every address as zero).
	ErrKallsymsHidden = errors.New("kernel symbol addresses are hidden")
)

// FileError says what is wrong with one binary: the file and, when the
// problem is confined to one part of it, the section (".symtab",
// ".debug_info", ".gopclntab", "program headers", ...). Malformed data in
// one section leaves the others usable; see [Binary.Problems].
type FileError struct {
	Path    string
	Section string
	Err     error
}

func (e *FileError) Error() string {
	if e.Section == "" {
		return fmt.Sprintf("symbolize %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("symbolize %s: section %s: %v", e.Path, e.Section, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// protect runs f and turns a panic inside it into a *FileError naming the
// path and section. The standard library's ELF, DWARF and pclntab decoders
// can still panic on some malformed inputs; a profiler must not die
// because one mapped file is corrupt.
func protect(path, section string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &FileError{Path: path, Section: section, Err: fmt.Errorf("malformed data: %v", r)}
		}
	}()
	if err := f(); err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return err
		}
		return &FileError{Path: path, Section: section, Err: err}
	}
	return nil
}
