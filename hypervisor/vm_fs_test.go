package hypervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFileOps runs testdata/fsops.c natively and in the VM, in a
// writable directory of its own each time, and compares the output.
func TestFileOps(t *testing.T) {
	prog := buildC(t, "fsops", "-pthread")
	for _, mode := range []string{"files", "pipes", "procself"} {
		t.Run(mode, func(t *testing.T) {
			nativeDir, guestDir := t.TempDir(), t.TempDir()
			nout, nerr, ncode := runNative(t, nil, prog, mode, nativeDir)
			if ncode != 0 || !strings.HasSuffix(nout, "done\n") {
				t.Fatalf("native run failed (exit %d):\n%s%s", ncode, nout, nerr)
			}
			r := runGuest(t, Config{VCPUs: 2, RWDirs: []string{guestDir}}, prog, mode, guestDir)
			if r.err != nil || r.status.Int() != ncode || r.stdout != nout {
				t.Errorf("guest: %v %v\n%s\nstderr: %s\nnative (exit %d):\n%s%s", r.status, r.err, r.stdout, r.stderr, ncode, nout, nerr)
			}
			if len(r.stats.Unimplemented) != 0 || len(r.stats.Denials) != 0 {
				t.Errorf("unimplemented %v, denials %v", r.stats.Unimplemented, r.stats.Denials)
			}
		})
	}
}

// TestSandboxEscapes tries every route out of a granted directory: "..",
// symlinks to directories and files outside, a symlink to "/", magic
// links, hard links, renames, reopening a read-only fd through
// /proc/self/fd, devices and sockets. Each must be refused; the
// directory beside the grant must be untouched afterwards.
func TestSandboxEscapes(t *testing.T) {
	prog := buildC(t, "sandbox")
	root := t.TempDir()
	grant, outside := filepath.Join(root, "grant"), filepath.Join(root, "outside")
	for _, d := range []string{grant, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sentinel := filepath.Join(outside, "sentinel")
	if err := os.WriteFile(sentinel, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(sentinel)
	if err != nil {
		t.Fatal(err)
	}
	r := runGuest(t, Config{RWDirs: []string{grant}, Dir: grant}, prog, grant, outside)
	if r.err != nil || r.status.Int() != 0 {
		t.Fatalf("sandbox program: %v %v\n%s\n%s", r.status, r.err, r.stdout, r.stderr)
	}
	want := `write outside: EROFS
create outside: EROFS
truncate outside: EROFS
read outside: ok
create in grant: ok
dotdot out of grant: EROFS
dotdot to outside file: EROFS
symlink dir out: ok
create through dir symlink: EROFS
mkdir through dir symlink: EROFS
symlink file out: ok
write through file symlink: EROFS
create through file symlink: EROFS
truncate through symlink: EROFS
chmod through symlink: EROFS
utimes through symlink: EROFS
hardlink outside file: EROFS
hardlink following symlink: EROFS
symlink to root: ok
write through root symlink: EROFS
symlink dotdot: ok
create through dotdot symlink: EROFS
symlink magic: ok
create through magic symlink: ELOOP
symlink in grant: ok
write through symlink in grant: ok
rename out: EROFS
rename in: EROFS
rename grant itself: EROFS
rmdir grant itself: EROFS
unlink outside: EROFS
unlink symlink in grant: ok
access W_OK outside: EROFS
reopen read-only fd for writing: EROFS
reopen read-only fd for reading: ok
write through /proc/self/root: EROFS
open /dev/kvm: EACCES
open /dev/tty: ENXIO
write /etc/passwd: EROFS
socket inet: EACCES
socket unix: EACCES
socketpair: EACCES
sentinel: untouched
`
	if r.stdout != want {
		t.Errorf("results differ:\n%s", lineDiff(r.stdout, want))
	}
	after, err := os.Stat(sentinel)
	if err != nil || !after.ModTime().Equal(before.ModTime()) || after.Mode() != before.Mode() || after.Size() != before.Size() {
		t.Errorf("sentinel changed: %v -> %v (%v)", before, after, err)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("the outside directory holds %d entries, want only the sentinel", len(ents))
	}
	kinds := map[string]Denial{}
	for _, d := range r.stats.Denials {
		kinds[d.Kind] = d
	}
	if d := kinds[DenyWrite]; d.Count < 20 || !strings.Contains(d.First, filepath.Join(outside, "sentinel")) || !strings.Contains(d.First, "read-only file system") {
		t.Errorf("write denials: %+v", d)
	}
	if d := kinds[DenyNetwork]; d.Count != 3 || !strings.Contains(d.First, "network access is not allowed in the vpmu sandbox: socket(AF_INET, SOCK_STREAM)") {
		t.Errorf("network denials: %+v", d)
	}
	if d := kinds[DenyDevice]; d.Count != 1 || !strings.Contains(d.First, "/dev/kvm") {
		t.Errorf("device denials: %+v", d)
	}
}

// lineDiff shows the lines of got and want that differ.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d: got %q, want %q\n", i+1, gl, wl)
		}
	}
	return b.String()
}

// TestMemoryCap runs a C and a Go program that allocate until they are
// refused: under --mem each gets ENOMEM, fails with its own error and a
// nonzero status, and the VMM reports the cap once.
func TestMemoryCap(t *testing.T) {
	const limit = 64 << 20
	checkReport := func(t *testing.T, r guestResult) {
		t.Helper()
		var mem *Denial
		for i, d := range r.stats.Denials {
			if d.Kind == DenyMemory {
				mem = &r.stats.Denials[i]
			}
		}
		if mem == nil || !strings.Contains(mem.First, "guest memory limit reached") || !strings.Contains(mem.First, "64.0 MiB limit") {
			t.Errorf("memory denial: %+v", r.stats.Denials)
		}
	}
	t.Run("C", func(t *testing.T) {
		prog := buildC(t, "memhog")
		r := runGuest(t, Config{MemBytes: limit}, prog)
		m := regexp.MustCompile(`^memhog: malloc failed after (\d+) MiB: Cannot allocate memory\n$`).FindStringSubmatch(r.stderr)
		if r.err != nil || r.status.Int() != 3 || m == nil {
			t.Fatalf("memhog: %v %v, stderr %q", r.status, r.err, r.stderr)
		}
		if n, _ := strconv.Atoi(m[1]); n < 48 || n >= 64 {
			t.Errorf("malloc failed after %d MiB, want close to the 64 MiB cap", n)
		}
		checkReport(t, r)
	})
	t.Run("Go", func(t *testing.T) {
		prog := buildGo(t, "gomemhog")
		r := runGuest(t, Config{MemBytes: limit, Env: []string{"GOGC=off"}}, prog)
		// Go's runtime throws when the kernel refuses to map heap memory.
		if r.err != nil || r.status.Int() != 2 || !strings.HasPrefix(r.stderr, "fatal error: runtime: out of memory\n") {
			t.Fatalf("gomemhog: %v %v, stderr:\n%.2000s", r.status, r.err, r.stderr)
		}
		checkReport(t, r)
	})
}
