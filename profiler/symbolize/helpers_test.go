package symbolize

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }

// The test programs in testdata mark lines with MARK:name comments.
const (
	cSource  = "testdata/cprog.c"
	goSource = "testdata/goprog/main.go"
)

// markers returns the line number of each MARK:name comment in src.
func markers(t testing.TB, src string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`MARK:(\w+)`)
	out := make(map[string]int)
	for i, line := range strings.Split(string(data), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			out[m[1]] = i + 1
		}
	}
	return out
}

// mustHaveTool skips when a build tool is missing. .ci/run installs them,
// so on CI these tests run.
func mustHaveTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("skipping: %s not installed: %v", name, err)
	}
}

func run(t testing.TB, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// buildC compiles testdata/cprog.c with the given gcc flags.
func buildC(t testing.TB, name string, flags ...string) string {
	t.Helper()
	mustHaveTool(t, "gcc")
	src, err := filepath.Abs(cSource)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name)
	run(t, "", nil, "gcc", append(append([]string{}, flags...), "-o", out, src)...)
	return out
}

// buildGo builds testdata/goprog with the given extra go build flags.
func buildGo(t testing.TB, name string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(goSource)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module goprog\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	args := append([]string{"build", "-o", out}, flags...)
	run(t, dir, []string{"CGO_ENABLED=0", "GOFLAGS=-buildvcs=false"}, "go", append(args, ".")...)
	return out
}

// nmSym is a symbol as nm -S prints it.
type nmSym struct {
	name       string
	addr, size uint64
}

// nm returns the defined text symbols of bin by name.
func nm(t testing.TB, bin string) map[string]nmSym {
	t.Helper()
	syms := make(map[string]nmSym)
	for _, s := range nmList(t, bin) {
		syms[s.name] = s
	}
	return syms
}

// nmList lists the defined text symbols of bin with their sizes (nm -S
// omits the size of symbols that have none).
func nmList(t testing.TB, bin string) []nmSym {
	t.Helper()
	mustHaveTool(t, "nm")
	out := run(t, "", nil, "nm", "-S", "--defined-only", bin)
	var syms []nmSym
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 {
			f = []string{f[0], "0", f[1], f[2]}
		}
		if len(f) != 4 || (f[2] != "T" && f[2] != "t" && f[2] != "W" && f[2] != "i") {
			continue
		}
		a, err1 := strconv.ParseUint(f[0], 16, 64)
		s, err2 := strconv.ParseUint(f[1], 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		syms = append(syms, nmSym{f[3], a, s})
	}
	return syms
}

func openOrFatal(t testing.TB, path string) *Binary {
	t.Helper()
	b, err := New(Options{}).Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Fatalf("problems with a good binary: %v", p)
	}
	return b
}

func framesOrFatal(t testing.TB, b *Binary, addr uint64) []Frame {
	t.Helper()
	fr, err := b.Frames(addr)
	if err != nil {
		t.Fatalf("Frames(%#x): %v", addr, err)
	}
	return fr
}
