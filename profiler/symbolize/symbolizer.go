package symbolize

import (
	"sync"
)

// Options configures a Symbolizer.
type Options struct {
	// KallsymsPath, when set, is read (once, on first use) to name
	// kernel addresses; usually "/proc/kallsyms". Empty leaves kernel
	// addresses unnamed.
	KallsymsPath string
	// DebugDirs are searched for separate debug files of binaries
	// without symbols or DWARF of their own; nil means
	// DefaultDebugDirs, an empty slice disables the search.
	DebugDirs []string
}

// Symbolizer opens binaries and keeps them, decoded, for the lookups of a
// profile. Files are cached by path and requested build ID, errors
// included, so a missing or broken file is tried once.
//
// A Symbolizer is safe for concurrent use. It holds no file descriptors:
// nothing needs closing.
type Symbolizer struct {
	opts Options

	mu    sync.Mutex // guards files
	files map[fileKey]*fileEntry

	kernelOnce sync.Once
	kernel     *Kallsyms
	kernelErr  error
}

type fileKey struct{ path, buildID string }

type fileEntry struct {
	once sync.Once
	b    *Binary
	err  error
}

// New returns an empty Symbolizer.
func New(opts Options) *Symbolizer {
	return &Symbolizer{opts: opts, files: make(map[fileKey]*fileEntry)}
}

// Open returns the decoded binary at path. A non-empty buildID must match
// the file's GNU or Go build ID, or the error matches
// [ErrBuildIDMismatch]: symbols from a different build would be wrong.
// Errors are *FileError values naming the file (and section).
func (s *Symbolizer) Open(path, buildID string) (*Binary, error) {
	k := fileKey{path, buildID}
	s.mu.Lock()
	e, ok := s.files[k]
	if !ok {
		e = &fileEntry{}
		s.files[k] = e
	}
	s.mu.Unlock()
	e.once.Do(func() {
		dirs := s.opts.DebugDirs
		if dirs == nil {
			dirs = DefaultDebugDirs
		}
		e.b, e.err = openBinary(path, buildID, dirs)
	})
	return e.b, e.err
}

// Kallsyms returns the kernel symbol table read from Options.KallsymsPath,
// or nil and the reason it is unavailable (unset, unreadable, or hidden:
// see [ErrKallsymsHidden]).
func (s *Symbolizer) Kallsyms() (*Kallsyms, error) {
	s.kernelOnce.Do(func() {
		if s.opts.KallsymsPath == "" {
			return
		}
		s.kernel, s.kernelErr = ReadKallsyms(s.opts.KallsymsPath)
	})
	return s.kernel, s.kernelErr
}
