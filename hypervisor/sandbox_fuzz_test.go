package hypervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// The sandbox fuzz target: random sequences of path operations (open for
// writing, create, mkdir, unlink, rmdir, rename, link, symlink, chmod,
// truncate, utimensat) on random paths, through the real system-call
// handlers, in a temporary tree:
//
//	root/g    granted, the working directory
//	root/o    not granted: files vza, vzb and a directory vzc holding vza
//
// Paths are made of the names vza, vzb, vzc, g, o, ".", ".." and empty
// components, relative or absolute (from root, from "/", through the
// guest's /proc/self/cwd), so symlinks the operations create can point
// anywhere, including "/" and /proc magic links. The property: nothing
// outside root/g ever changes. root/o must be byte-for-byte and
// metadata-for-metadata the same (link counts too, so a hard link from
// inside is caught), root must hold only g and o, and none of the names
// may appear in root's ancestors, "/" or the VMM's own working directory
// (where a magic link would lead). Every fd an open returned must be a
// file beneath root/g.

var fuzzNames = []string{"vza", "vzb", "vzc", ".", "..", "g", "o", ""}

// sandboxFuzz is one run's tree and process.
type sandboxFuzz struct {
	root, grant, outside string
	th                   *Thread
	mem                  uint64 // guest memory for path strings
}

func newSandboxFuzz(t *testing.T) *sandboxFuzz {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &sandboxFuzz{root: root, grant: filepath.Join(root, "g"), outside: filepath.Join(root, "o")}
	for _, d := range []string{s.grant, s.outside, filepath.Join(s.outside, "vzc")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"vza": "A", "vzb": "B", "vzc/vza": "C"} {
		if err := os.WriteFile(filepath.Join(s.outside, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := newSandbox([]string{s.grant}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.close() })
	s.th, s.mem = newFakeProcess(t)
	s.th.proc.vm.sb = sb
	if err := s.th.proc.fds.chdirInitial(s.grant); err != nil {
		t.Fatal(err)
	}
	return s
}

// decoder reads a fuzz input.
type decoder struct{ b []byte }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// path decodes a path: a prefix kind, then up to five names.
func (d *decoder) path(root string) string {
	c := d.byte()
	var p string
	switch c % 5 {
	case 1:
		p = root + "/"
	case 2:
		p = "/"
	case 3:
		p = "/proc/self/cwd/"
	case 4:
		p = "/proc/self/root" + root + "/"
	}
	n := int(c/5) % 6
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fuzzNames[int(d.byte())%len(fuzzNames)]
	}
	return p + strings.Join(parts, "/")
}

// snapshot records every file under dir with its metadata and contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		v := fmt.Sprintf("mode %o nlink %d size %d mtime %d.%d uid %d", st.Mode, st.Nlink, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Uid)
		if e.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " data " + string(b)
		}
		m[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// watched are the directories where an escaped name could appear.
func (s *sandboxFuzz) watched() []string {
	dirs := []string{s.root}
	for d := filepath.Dir(s.root); ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if d == "/" {
			break
		}
	}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	return dirs
}

// strays lists the fuzz names present in the watched directories (g and
// o are expected in root only).
func (s *sandboxFuzz) strays() []string {
	var out []string
	for _, d := range s.watched() {
		for _, n := range []string{"vza", "vzb", "vzc", "g", "o"} {
			if d == s.root && (n == "g" || n == "o") {
				continue
			}
			if _, err := os.Lstat(filepath.Join(d, n)); err == nil {
				out = append(out, filepath.Join(d, n))
			}
		}
	}
	return out
}

// call runs system call nr with path arguments (strings written to
// guest memory) and integer arguments.
func (s *sandboxFuzz) call(t *testing.T, nr int, args ...any) (uint64, error) {
	t.Helper()
	var a SyscallArgs
	off := uint64(0)
	for i, v := range args {
		switch v := v.(type) {
		case string:
			b := append([]byte(v), 0)
			if err := s.th.proc.mm.CopyOut(s.mem+off, b); err != nil {
				t.Fatal(err)
			}
			a[i] = s.mem + off
			off += uint64(len(b)+7) &^ 7
		case int:
			a[i] = uint64(int64(v))
		}
	}
	ret, err := s.th.dispatchSyscall(uint64(nr), a)
	if errors.Is(err, errBlock) {
		t.Fatalf("%s blocked", syscallName(nr))
	}
	return ret, err
}

func FuzzSandboxPaths(f *testing.F) {
	// Seeds (see decoder.path: a path byte is kind + 5*count, then one
	// byte per name): the classic escapes.
	f.Add([]byte{7, 6, 6, 5, 0, 0, 10, 0, 0})                   // symlink root/o as vza; create vza/vza
	f.Add([]byte{0, 10, 4, 0})                                  // create ../vza
	f.Add([]byte{7, 2, 5, 0, 0, 10, 0, 1})                      // symlink / as vza; create vza/vzb
	f.Add([]byte{6, 11, 6, 0, 5, 1})                            // hard link root/o/vza as vzb
	f.Add([]byte{0, 5, 0, 5, 5, 0, 15, 4, 6, 0})                // create vza; rename it to ../o/vza
	f.Add([]byte{7, 8, 4, 5, 2, 9, 15, 2, 6, 0})                // symlink /proc/self/cwd/.. as vzc; truncate vzc/o/vza
	f.Add([]byte{7, 11, 6, 0, 5, 0, 11, 5, 0, 5, 1})            // symlink root/o/vza as vza; linkat it as vzb, following
	f.Add([]byte{7, 9, 6, 5, 1, 0, 10, 1, 1})                   // symlink /proc/self/root/<root>/o as vzb; create vzb/vzb
	f.Add([]byte{7, 2, 5, 0, 8, 15, 0, 6, 0, 1, 15, 0, 6, 0})   // symlink / as vza; chmod and open vza/o/vza
	f.Add([]byte{7, 11, 6, 0, 5, 0, 0, 5, 0, 8, 5, 0, 9, 5, 0}) // symlink root/o/vza as vza; create, chmod, truncate vza
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 64 {
			prog = prog[:64]
		}
		s := newSandboxFuzz(t)
		before := snapshot(t, s.outside)
		if st := s.strays(); len(st) > 0 {
			t.Skipf("skipping: fuzz names already exist outside the tree: %v", st)
		}
		d := &decoder{b: prog}
		for len(d.b) > 0 {
			op := d.byte() % 12
			p := d.path(s.root)
			switch op {
			case 0, 1, 2:
				flags := []int{unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, unix.O_RDWR, unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW}[op]
				fd, err := s.call(t, sysOpenat, unix.AT_FDCWD, p, flags, 0o644)
				if err == nil {
					s.checkFD(t, int(fd), p)
					s.th.proc.fds.close(int(fd))
				}
			case 3:
				s.call(t, sysMkdir, p, 0o755)
			case 4:
				s.call(t, sysUnlink, p)
			case 5:
				s.call(t, sysRename, p, d.path(s.root))
			case 6:
				s.call(t, sysLink, p, d.path(s.root))
			case 7:
				s.call(t, sysSymlink, p, d.path(s.root))
			case 8:
				s.call(t, sysChmod, p, 0o600)
			case 9:
				s.call(t, sysTruncate, p, 0)
			case 10:
				s.call(t, sysRmdir, p)
			case 11:
				s.call(t, sysLinkat, unix.AT_FDCWD, p, unix.AT_FDCWD, d.path(s.root), unix.AT_SYMLINK_FOLLOW)
			}
		}
		after := snapshot(t, s.outside)
		for p, v := range before {
			if after[p] != v {
				t.Fatalf("%s changed: %q -> %q", p, v, after[p])
			}
		}
		for p := range after {
			if _, ok := before[p]; !ok {
				t.Fatalf("%s appeared outside the grant", p)
			}
		}
		if st := s.strays(); len(st) > 0 {
			t.Fatalf("names escaped the grant: %v", st)
		}
	})
}

// checkFD checks that a guest fd from open refers to a file beneath the
// grant, or to a file outside opened read-only.
func (s *sandboxFuzz) checkFD(t *testing.T, fd int, p string) {
	t.Helper()
	of, err := s.th.proc.fds.get(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer of.decRef()
	hf, ok := of.File.(*hostFile)
	if !ok {
		return // emulated: never writable
	}
	real, err := hostRealPath(hf.fd)
	if hf.writable && (err != nil && err != unix.ENOENT || !beneath(real, s.grant)) {
		t.Fatalf("open %q gave a writable fd of %s (%v), outside %s", p, real, err, s.grant)
	}
}
