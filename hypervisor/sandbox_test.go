package hypervisor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

func TestSplitLast(t *testing.T) {
	for _, tc := range []struct {
		in, parent, name, dot string
		trailing              bool
	}{
		{"a", ".", "a", "", false},
		{"a/b", "a", "b", "", false},
		{"/a", "/", "a", "", false},
		{"/a/b/", "/a", "b", "", true},
		{"a//b", "a/", "b", "", false},
		{"/", "/", ".", ".", true},
		{"///", "/", ".", ".", true},
		{"a/..", "a/..", ".", "..", false},
		{"..", "..", ".", "..", false},
		{".", ".", ".", ".", false},
		{"a/./", "a/.", ".", ".", true},
	} {
		parent, name, dot, trailing := splitLast(tc.in)
		if parent != tc.parent || name != tc.name || dot != tc.dot || trailing != tc.trailing {
			t.Errorf("splitLast(%q) = %q %q %q %v, want %q %q %q %v", tc.in, parent, name, dot, trailing, tc.parent, tc.name, tc.dot, tc.trailing)
		}
	}
}

func TestPathHelpers(t *testing.T) {
	for _, tc := range []struct{ base, p, want string }{
		{"/a/b", "c", "/a/b/c"}, {"/a/b", "../c", "/a/c"}, {"/a", "/x/../y", "/y"}, {"/", "..", "/"}, {"/a", "", "/a"},
	} {
		if got := lexJoin(tc.base, tc.p); got != tc.want {
			t.Errorf("lexJoin(%q, %q) = %q, want %q", tc.base, tc.p, got, tc.want)
		}
	}
	for _, tc := range []struct {
		p, dir string
		in     bool
		rel    string
	}{
		{"/tmp/g", "/tmp/g", true, "."}, {"/tmp/g/x/y", "/tmp/g", true, "x/y"}, {"/tmp/gx", "/tmp/g", false, ""},
		{"/tmp", "/tmp/g", false, ""}, {"/etc", "/", true, "etc"},
	} {
		if got := beneath(tc.p, tc.dir); got != tc.in {
			t.Errorf("beneath(%q, %q) = %v", tc.p, tc.dir, got)
		}
		if tc.in {
			if got := relTo(tc.p, tc.dir); got != tc.rel {
				t.Errorf("relTo(%q, %q) = %q, want %q", tc.p, tc.dir, got, tc.rel)
			}
		}
	}
	for _, tc := range []struct {
		p      string
		hidden bool
	}{
		{"/proc/kcore", true}, {"/proc/kmsg", true}, {"/proc/1/status", os.Getpid() == 1}, {"/proc/cpuinfo", false},
		{"/proc/" + strconv.Itoa(os.Getpid()) + "/maps", true}, {"/proc/" + strconv.Itoa(unix.Gettid()), true}, {"/etc/passwd", false},
	} {
		if got := hiddenProcPath(tc.p); got != tc.hidden {
			t.Errorf("hiddenProcPath(%q) = %v", tc.p, got)
		}
	}
}

func TestDirents(t *testing.T) {
	var b []byte
	for i, name := range []string{".", "..", "1000", "1", "self"} {
		b = append(b, encodeDirent(uint64(i+1), int64(i+1), dtDir, name)...)
	}
	out := filterDirents(b, "1000")
	var names []string
	for len(out) > 0 {
		n := int(binary.LittleEndian.Uint16(out[16:]))
		if n%8 != 0 || n < 24 {
			t.Fatalf("record length %d", n)
		}
		names = append(names, string(bytes.TrimRight(out[19:n], "\x00")))
		out = out[n:]
	}
	if got := len(names); got != 4 || names[2] != "1" {
		t.Errorf("filtered names %q", names)
	}
	d := &procDir{path: "/proc/1000/fd", list: func() []dirEntry { return []dirEntry{{name: "0", typ: dtLnk}, {name: "1", typ: dtLnk}} }}
	if _, err := d.getdents(10); !errors.Is(err, unix.EINVAL) {
		t.Errorf("getdents into 10 bytes: %v, want EINVAL", err)
	}
	first, err := d.getdents(48)
	if err != nil || len(first) != 48 {
		t.Fatalf("getdents(48) = %d bytes, %v", len(first), err)
	}
	rest, _ := d.getdents(4096)
	if len(rest) != 48 {
		t.Errorf("second getdents: %d bytes, want the last two entries", len(rest))
	}
	if end, _ := d.getdents(4096); len(end) != 0 {
		t.Errorf("third getdents: %d bytes, want the end", len(end))
	}
}

// TestSandboxGrants checks New's handling of the granted directories.
func TestSandboxGrants(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	sb, err := newSandbox([]string{filepath.Join(dir, "."), link, "/"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.close()
	real, _ := filepath.EvalSymlinks(dir)
	if g := sb.grantFor(real + "/x"); g == nil || g.path != "/" {
		t.Errorf("grantFor picked %+v, want the outermost grant /", g)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), "/etc/passwd"} {
		if _, err := newSandbox([]string{bad}, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrSandboxDir) {
			t.Errorf("newSandbox(%q): %v, want ErrSandboxDir", bad, err)
		}
	}
	var nilSB *sandbox
	if nilSB.grantFor("/") != nil || nilSB.list() != nil || nilSB.deny(DenyWrite, "x", unix.EROFS) != unix.EROFS {
		t.Error("a nil sandbox must grant nothing and record nothing")
	}
	if err := sb.denyWrite("open", "/etc/x"); err != unix.EROFS {
		t.Errorf("denyWrite: %v", err)
	}
	sb.denyWrite("open", "/etc/y")
	if ds := sb.list(); len(ds) != 1 || ds[0].Count != 2 || ds[0].First != "open /etc/x: read-only file system (only directories granted with --rw are writable)" {
		t.Errorf("denials %+v", ds)
	}
}
