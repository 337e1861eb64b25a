package symbolize

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/profiler/internal/testprog"
)

// TestDebugFile splits a binary's symbols and DWARF into a separate debug
// file, as distributions do, and checks that they are found by build ID
// and by .gnu_debuglink (verified by CRC when there is no build ID), and
// that a debug file of another build is refused.
func TestDebugFile(t *testing.T) {
	testprog.MustHaveTool(t, "objcopy")
	mark := testprog.Markers(testprog.CSource)
	split := func(bin string) (stripped, debug string) {
		dir := t.TempDir()
		debug = filepath.Join(dir, "cprog.debug")
		stripped = filepath.Join(dir, "cprog")
		testprog.Run(t, "", nil, "objcopy", "--only-keep-debug", bin, debug)
		testprog.Run(t, "", nil, "objcopy", "--strip-all", "--add-gnu-debuglink="+debug, bin, stripped)
		return stripped, debug
	}
	check := func(t *testing.T, b *Binary, syms map[string]testprog.Sym) {
		t.Helper()
		if p := b.Problems(); len(p) > 0 {
			t.Errorf("problems: %v", p)
		}
		fr := framesOrFatal(t, b, syms["hot"].Addr)
		if len(fr) != 1 || fr[0].Function != "hot" || fr[0].StartLine != mark["hot"] || filepath.Base(fr[0].File) != "cprog.c" {
			t.Errorf("Frames(hot) = %+v", fr)
		}
		if !b.Info().HasInlineFrames {
			t.Errorf("Info = %+v, want DWARF from the debug file", b.Info())
		}
	}

	t.Run("build-id", func(t *testing.T) {
		bin := testprog.BuildC(t, "cprog", "-g", "-O1", "-fPIE", "-pie", "-Wl,--build-id=sha1")
		syms := testprog.NM(t, bin)
		stripped, debug := split(bin)
		id := openOrFatal(t, bin).Info().BuildID
		root := t.TempDir()
		dst := filepath.Join(root, ".build-id", id[:2], id[2:]+".debug")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		// Moved away from the debuglink's places: only the build ID
		// can find it.
		if err := os.Rename(debug, dst); err != nil {
			t.Fatal(err)
		}
		b0, err := New(Options{DebugDirs: []string{}}).Open(stripped, "")
		if err != nil {
			t.Fatal(err)
		}
		if fr, _ := b0.Frames(syms["hot"].Addr); len(fr) != 0 {
			t.Fatalf("stripped binary without its debug file names hot: %+v", fr)
		}
		b, err := New(Options{DebugDirs: []string{root}}).Open(stripped, "")
		if err != nil {
			t.Fatal(err)
		}
		if b.Info().DebugFile != dst {
			t.Errorf("DebugFile = %q, want %q", b.Info().DebugFile, dst)
		}
		check(t, b, syms)
	})

	t.Run("debuglink", func(t *testing.T) {
		bin := testprog.BuildC(t, "cprog", "-g", "-O1", "-fPIE", "-pie", "-Wl,--build-id=none")
		syms := testprog.NM(t, bin)
		stripped, debug := split(bin)
		b, err := New(Options{DebugDirs: []string{}}).Open(stripped, "")
		if err != nil {
			t.Fatal(err)
		}
		if b.Info().DebugFile != debug || b.Info().BuildID != "" {
			t.Errorf("Info = %+v, want debug file %s found next to the binary", b.Info(), debug)
		}
		check(t, b, syms)

		// Another build under the same name: the CRC refuses it.
		other := testprog.BuildC(t, "cprog2", "-g", "-O2", "-fPIE", "-pie", "-Wl,--build-id=none")
		testprog.Run(t, "", nil, "objcopy", "--only-keep-debug", other, debug)
		b, err = New(Options{DebugDirs: []string{}}).Open(stripped, "")
		if err != nil {
			t.Fatal(err)
		}
		if b.Info().DebugFile != "" || len(b.Problems()) != 1 || !strings.Contains(b.Problems()[0].Error(), "CRC") {
			t.Errorf("mismatched debug file: Info %+v, problems %v", b.Info(), b.Problems())
		}
		var fe *FileError
		if !errors.As(b.Problems()[0], &fe) || fe.Path != debug {
			t.Errorf("problem %v does not name %s", b.Problems()[0], debug)
		}
	})
}
