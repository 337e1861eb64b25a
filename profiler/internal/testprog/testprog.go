// Package testprog builds the small C and Go programs the profiler's
// tests symbolize and profile, and reads their symbols with the system's
// tools, which serve as the independent reference.
//
// The programs mark source lines with MARK:name comments; [Markers] maps
// each name to its line. Run with arguments "N wait", a program prints
// the runtime addresses of its functions and waits for stdin to close, so
// a test can read /proc/PID/maps while it runs ([Start]).
package testprog

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// CSource and GoSource are the programs' sources.
var (
	//go:embed testdata/cprog.c
	CSource string
	//go:embed testdata/goprog/main.go
	GoSource string
)

// Markers returns the line of each MARK:name comment in src.
func Markers(src string) map[string]int {
	re := regexp.MustCompile(`MARK:(\w+)`)
	out := make(map[string]int)
	for i, line := range strings.Split(src, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			out[m[1]] = i + 1
		}
	}
	return out
}

// MustHaveTool skips the test when a build tool is missing. .ci/run
// installs gcc and binutils, so on CI these tests run.
func MustHaveTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("skipping: %s not installed: %v", name, err)
	}
}

// Run runs a command and returns its standard output, failing the test
// with its standard error if it fails.
func Run(t testing.TB, dir string, env []string, name string, args ...string) []byte {
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

// BuildC compiles the C program with the given gcc flags into a
// temporary directory and returns the binary's path. The source is
// written next to it as cprog.c.
func BuildC(t testing.TB, name string, flags ...string) string {
	t.Helper()
	MustHaveTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "cprog.c")
	if err := os.WriteFile(src, []byte(CSource), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	Run(t, dir, nil, "gcc", append(append([]string{}, flags...), "-o", out, src)...)
	return out
}

// BuildGo builds the Go program with the given extra go build flags
// (CGO_ENABLED=0) and returns the binary's path. The source is main.go.
func BuildGo(t testing.TB, name string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(GoSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module goprog\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	args := append([]string{"build", "-o", out}, flags...)
	Run(t, dir, []string{"CGO_ENABLED=0", "GOFLAGS=-buildvcs=false"}, "go", append(args, ".")...)
	return out
}

// Sym is a symbol as nm -S prints it.
type Sym struct {
	Name       string
	Addr, Size uint64
}

// NMList lists the defined text symbols of bin (nm -S; symbols without a
// size have Size 0).
func NMList(t testing.TB, bin string) []Sym {
	t.Helper()
	MustHaveTool(t, "nm")
	out := Run(t, "", nil, "nm", "-S", "--defined-only", bin)
	var syms []Sym
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
		syms = append(syms, Sym{f[3], a, s})
	}
	return syms
}

// NM returns the defined text symbols of bin by name.
func NM(t testing.TB, bin string) map[string]Sym {
	t.Helper()
	syms := make(map[string]Sym)
	for _, s := range NMList(t, bin) {
		syms[s.Name] = s
	}
	return syms
}

// Process is a test program running in its waiting mode.
type Process struct {
	Pid int
	// Addrs holds the runtime address of each function the program
	// reported ("hot", "cold", ...).
	Addrs map[string]uint64
}

// Start runs bin with arguments "1000 wait", reads the function addresses
// it prints, and leaves it waiting; the test's cleanup closes its stdin
// and waits for it to exit.
func Start(t testing.TB, bin string) *Process {
	t.Helper()
	cmd := exec.Command(bin, "1000", "wait")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s: %v", bin, err)
		}
	})
	p := &Process{Pid: cmd.Process.Pid, Addrs: make(map[string]uint64)}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "end" {
		name, addr, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("%s printed %q", bin, sc.Text())
		}
		a, err := strconv.ParseUint(strings.TrimPrefix(addr, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("%s printed %q: %v", bin, sc.Text(), err)
		}
		p.Addrs[name] = a
	}
	if len(p.Addrs) < 2 {
		t.Fatalf("%s printed %d addresses: %v", bin, len(p.Addrs), sc.Err())
	}
	return p
}

// String describes the process for test messages.
func (p *Process) String() string { return fmt.Sprintf("pid %d %v", p.Pid, p.Addrs) }
