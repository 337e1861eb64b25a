package hypervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// The sandbox: the guest sees the host file system read-only, except
// beneath the directories granted with Config.RWDirs (vpmu run --rw); it
// has no network; its memory is capped by Config.MemBytes.
//
// Every write goes through openat2(2) with RESOLVE_BENEATH and
// RESOLVE_NO_MAGICLINKS relative to an O_PATH fd of the granted
// directory (see sandbox_resolve.go), so the kernel itself guarantees
// that neither "..", nor a symlink, nor a /proc magic link leads a write
// out of a granted directory. Reads resolve on the host with
// RESOLVE_NO_MAGICLINKS; the guest's own /proc/self, /dev/stdin and
// friends are emulated (fd_proc.go), and nothing under /proc shows the
// VMM's own process.
//
// The first refusal of each kind is logged (Warn) with the path or call
// that was refused; VM.Stats().Denials lists them all with counts.

// Kinds of sandbox refusal (Denial.Kind).
const (
	DenyWrite   = "write"   // a write outside the granted directories: EROFS
	DenyNetwork = "network" // a socket call: EACCES
	DenyDevice  = "device"  // a host device or named pipe: EACCES
	DenyMemory  = "memory"  // mmap/brk beyond Config.MemBytes: ENOMEM
)

// Denial summarizes the sandbox's refusals of one kind.
type Denial struct {
	// Kind is DenyWrite, DenyNetwork, DenyDevice or DenyMemory.
	Kind string
	// First describes the first refusal, naming the path or call.
	First string
	// Count is how many times this kind was refused.
	Count int
}

// sandbox is a VM's set of granted directories and its refusal log. A
// nil *sandbox grants nothing (every write is refused) and logs nothing.
// Safe for concurrent use.
type sandbox struct {
	grants []grant
	log    *slog.Logger

	mu      sync.Mutex // protects denials
	denials map[string]*Denial
}

// grant is one writable directory.
type grant struct {
	// path is the directory's real path (absolute, no symlinks).
	path string
	// fd is an O_PATH fd of the directory: the root every write beneath
	// it is resolved from.
	fd int
}

// ErrSandboxDir is returned by New for a Config.RWDirs entry that cannot
// be granted.
var ErrSandboxDir = errors.New("cannot grant write access to directory")

// newSandbox opens the granted directories. Each must exist and be a
// directory; it is recorded by its real path.
func newSandbox(dirs []string, log *slog.Logger) (*sandbox, error) {
	s := &sandbox{log: log, denials: map[string]*Denial{}}
	for _, d := range dirs {
		real, err := filepath.EvalSymlinks(d)
		if err == nil {
			real, err = filepath.Abs(real)
		}
		if err != nil {
			s.close()
			return nil, fmt.Errorf("%w %s: %w", ErrSandboxDir, d, err)
		}
		fd, err := unix.Openat2(unix.AT_FDCWD, real, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
		if err != nil {
			s.close()
			if err == unix.ENOSYS {
				return nil, fmt.Errorf("%w %s: the host kernel lacks openat2 (Linux 5.6 or later is needed to confine writes)", ErrSandboxDir, d)
			}
			return nil, fmt.Errorf("%w %s: %w", ErrSandboxDir, d, os.NewSyscallError("open", err))
		}
		s.grants = append(s.grants, grant{path: real, fd: fd})
	}
	// Outermost first: grantFor picks the outermost grant containing a
	// path, so nested grants behave as one tree.
	sort.Slice(s.grants, func(i, j int) bool { return len(s.grants[i].path) < len(s.grants[j].path) })
	return s, nil
}

// close releases the granted directories' fds.
func (s *sandbox) close() error {
	if s == nil {
		return nil
	}
	for _, g := range s.grants {
		unix.Close(g.fd)
	}
	s.grants = nil
	return nil
}

// grantFor returns the outermost grant whose directory is real or
// contains it, or nil. real must be a real path.
func (s *sandbox) grantFor(real string) *grant {
	if s == nil {
		return nil
	}
	for i := range s.grants {
		if beneath(real, s.grants[i].path) {
			return &s.grants[i]
		}
	}
	return nil
}

// beneath reports whether path p is dir or lies inside it (both clean
// and absolute).
func beneath(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// relTo returns p relative to dir (p beneath dir), "." for dir itself.
func relTo(p, dir string) string {
	if p == dir {
		return "."
	}
	if dir == "/" {
		return p[1:]
	}
	return p[len(dir)+1:]
}

// deny records a refusal of kind and returns err. The first refusal of
// each kind is logged as a warning.
func (s *sandbox) deny(kind, what string, err error) error {
	if s == nil {
		return err
	}
	s.mu.Lock()
	d := s.denials[kind]
	first := d == nil
	if first {
		d = &Denial{Kind: kind, First: what}
		s.denials[kind] = d
	}
	d.Count++
	s.mu.Unlock()
	if first {
		s.log.Warn("sandbox: " + what)
	} else {
		s.log.Debug("sandbox: " + what)
	}
	return err
}

// list returns the refusals so far, sorted by kind.
func (s *sandbox) list() []Denial {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Denial, 0, len(s.denials))
	for _, d := range s.denials {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// denyWrite refuses a write to path (the guest's spelling, resolved
// lexically) with EROFS, as a read-only bind mount would.
func (s *sandbox) denyWrite(op, path string) error {
	return s.deny(DenyWrite, fmt.Sprintf("%s %s: read-only file system (only directories granted with --rw are writable)", op, path), unix.EROFS)
}

// sandbox returns the sandbox of t's VM (nil grants nothing).
func (t *Thread) sandbox() *sandbox { return t.proc.vm.sb }
