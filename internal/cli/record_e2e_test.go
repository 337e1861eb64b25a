package cli

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/internal/testutil"
)

// This file runs the real vpmu binary: vpmu record on a C and a Go
// program whose two hot functions cost 3:1 by construction, then go tool
// pprof on the profile.
//
// The ratio check: the programs alternate heavy (3n iterations of a
// dependent multiply-add) and light (n iterations) thousands of times, so
// their true shares of the running time are 3/4 and 1/4 up to the call
// overhead (well under 1%). With N samples in the two, light's count is
// close to binomial with sd sqrt(N*3/16); at the N >= 1000 the test
// requires that is 3.5% of light's expected count, and the ratio's
// relative sd is about 4.6% (2.6% at the ~3000 samples seen here).
// Accepting 3:1 +-30% is therefore more than 6 sd at the minimum: a
// failure means misattributed samples, not bad luck.

const (
	wantRatio      = 3.0
	ratioTolerance = 0.30
	minSamples     = 1000
)

// e2e holds the binaries of the end-to-end tests.
type e2e struct {
	dir, vpmu, goTool string
}

// buildHotC compiles testdata/record/NAME.c with frame pointers and
// line tables, skipping without gcc, and returns the binary and its hot
// functions.
func (e *e2e) buildHotC(t *testing.T, name string) (string, hotFuncs) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("skipping: gcc not installed: %v", err)
	}
	src, err := filepath.Abs("testdata/record/" + name + ".c")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(e.dir, name)
	e.run(t, "", "gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-fno-inline", "-o", bin, src)
	return bin, hotFuncs{heavy: "heavy", light: "light", caller: "main", file: name + ".c", src: src}
}

// buildHotGo builds testdata/record/hotgo and returns the binary and its
// hot functions.
func (e *e2e) buildHotGo(t *testing.T) (string, hotFuncs) {
	t.Helper()
	src, err := filepath.Abs("testdata/record/hotgo/main.go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(e.dir, "hotgo")
	e.run(t, "", e.goTool, "build", "-o", bin, "./testdata/record/hotgo")
	return bin, hotFuncs{heavy: "main.heavy", light: "main.light", caller: "main.main", file: "hotgo/main.go", src: src}
}

func TestRecordEndToEnd(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	e := &e2e{dir: t.TempDir(), goTool: goTool(t)}
	e.vpmu = filepath.Join(e.dir, "vpmu")
	e.run(t, "", e.goTool, "build", "-o", e.vpmu, "github.com/vpmu/vpmu/cmd/vpmu")

	t.Run("C", func(t *testing.T) {
		bin, fn := e.buildHotC(t, "hot")
		e.checkProgram(t, bin, fn, false)
		e.checkProgram(t, bin, fn, true)
	})
	t.Run("Go", func(t *testing.T) {
		bin, fn := e.buildHotGo(t)
		e.checkProgram(t, bin, fn, true)
		t.Run("attach", func(t *testing.T) { e.checkAttach(t, bin, fn) })
		t.Run("unprivileged", func(t *testing.T) { e.checkUnprivileged(t, bin, fn) })
	})
	t.Run("exit status", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "p.pb.gz")
		_, stderr, code := e.vpmuRun(t, "record", "-o", out, "--", "sh", "-c", "kill -USR1 $$")
		if want := 128 + int(syscall.SIGUSR1); code != want {
			t.Errorf("killed by SIGUSR1: exit %d, want %d; stderr:\n%s", code, want, stderr)
		}
		_, stderr, code = e.vpmuRun(t, "record", "-o", out, "--", "sh", "-c", "exit 7")
		if code != 7 || !strings.Contains(stderr, "view with: go tool pprof -top "+out) {
			t.Errorf("exit %d, want 7; stderr:\n%s", code, stderr)
		}
	})
}

// hotFuncs names a test program's functions as the profile must show
// them.
type hotFuncs struct {
	heavy, light, caller string
	file                 string // suffix of the source file name
	src                  string // the source, for the MARK lines
}

// checkProgram records bin and checks the profile: the two hot functions
// on top of pprof's list in a 3:1 ratio, with names and source lines, and
// call stacks with -g, a single frame without.
func (e *e2e) checkProgram(t *testing.T, bin string, fn hotFuncs, callGraph bool) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prof.pb.gz")
	args := []string{"record", "-o", out}
	if callGraph {
		args = append(args, "-g")
	}
	_, stderr, code := e.vpmuRun(t, append(args, "--", bin)...)
	if code != 0 {
		t.Fatalf("vpmu %q: exit %d; stderr:\n%s", args, code, stderr)
	}
	t.Logf("vpmu %q:\n%s", args, stderr)
	p := readProfile(t, out)
	if strings.Contains(stderr, "falling back to cpu-clock") != (p.SampleType[1].Type == "cpu-clock") {
		t.Errorf("fallback note and sample type %q disagree", p.SampleType[1].Type)
	}
	e.checkTop(t, out, fn)
	checkLines(t, p, fn)
	checkStacks(t, p, fn, callGraph)
}

// checkTop runs go tool pprof -top -sample_index=1 and checks that the
// two hot functions are its first two rows, heavy first, in a 3:1 ratio
// of their flat percentages.
func (e *e2e) checkTop(t *testing.T, file string, fn hotFuncs) {
	t.Helper()
	top := e.run(t, "", e.goTool, "tool", "pprof", "-top", "-sample_index=1", file)
	rows := topRows(top)
	if len(rows) < 2 || rows[0].name != fn.heavy || rows[1].name != fn.light {
		t.Fatalf("pprof -top: want %s then %s first; got:\n%s", fn.heavy, fn.light, top)
	}
	ratio := rows[0].flatPct / rows[1].flatPct
	if ratio < wantRatio*(1-ratioTolerance) || ratio > wantRatio*(1+ratioTolerance) {
		t.Errorf("%s:%s = %.2f%%:%.2f%% = %.2f, want %.1f +-%.0f%%\n%s", fn.heavy, fn.light, rows[0].flatPct, rows[1].flatPct,
			ratio, wantRatio, ratioTolerance*100, top)
	}
	t.Logf("%s %.2f%%, %s %.2f%%: ratio %.2f", fn.heavy, rows[0].flatPct, fn.light, rows[1].flatPct, ratio)
	lines := e.run(t, "", e.goTool, "tool", "pprof", "-top", "-lines", file)
	if !regexp.MustCompile(regexp.QuoteMeta(fn.heavy) + ` \S*` + regexp.QuoteMeta(fn.file) + `:\d+`).MatchString(lines) {
		t.Errorf("pprof -top -lines shows no %s %s:LINE:\n%s", fn.heavy, fn.file, lines)
	}
}

// topRow is one row of pprof -top.
type topRow struct {
	name    string
	flatPct float64
}

// topRows parses the rows of pprof -top output.
func topRows(out string) []topRow {
	var rows []topRow
	inTable := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 5 && f[0] == "flat" && f[1] == "flat%" {
			inTable = true
			continue
		}
		if !inTable || len(f) < 6 {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		if err != nil {
			continue
		}
		rows = append(rows, topRow{name: strings.Join(f[5:], " "), flatPct: pct})
	}
	return rows
}

// checkLines checks that every location of the hot functions has the
// source file and a line inside the function, and that they hold enough
// samples for the ratio check to mean something.
func checkLines(t *testing.T, p *profile.Profile, fn hotFuncs) {
	t.Helper()
	src, err := os.ReadFile(fn.src)
	if err != nil {
		t.Fatal(err)
	}
	marks := map[string]int{}
	for i, line := range strings.Split(string(src), "\n") {
		if m := regexp.MustCompile(`MARK:(\w+)`).FindStringSubmatch(line); m != nil {
			marks[m[1]] = i + 1
		}
	}
	var hot int64
	for _, s := range p.Sample {
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				name := l.Function.Name
				var first, last int64
				switch name {
				case fn.heavy:
					first, last = int64(marks["heavy"]), int64(marks["heavy_end"])
				case fn.light:
					first, last = int64(marks["light"]), int64(marks["light_end"])
				default:
					continue
				}
				if loc == s.Location[0] {
					hot += s.Value[0]
				}
				if !strings.HasSuffix(l.Function.Filename, fn.file) || l.Line < first || l.Line > last {
					t.Fatalf("%s at %s:%d, want %s lines %d-%d", name, l.Function.Filename, l.Line, fn.file, first, last)
				}
			}
		}
	}
	if hot < minSamples {
		t.Fatalf("only %d samples in %s and %s, want at least %d for the ratio check", hot, fn.heavy, fn.light, minSamples)
	}
}

// checkStacks checks call stacks: with -g, the hot functions' caller is
// the program's main; without, every sample is a single location.
func checkStacks(t *testing.T, p *profile.Profile, fn hotFuncs, callGraph bool) {
	t.Helper()
	var withCaller, hot int64
	for _, s := range p.Sample {
		if !callGraph {
			if len(s.Location) != 1 {
				t.Fatalf("sample with %d locations without -g", len(s.Location))
			}
			continue
		}
		for i, loc := range s.Location {
			if name := funcName(loc); name != fn.heavy && name != fn.light {
				continue
			}
			hot += s.Value[0]
			if i+1 < len(s.Location) && funcName(s.Location[i+1]) == fn.caller {
				withCaller += s.Value[0]
			}
			break
		}
	}
	if callGraph && (hot == 0 || withCaller < hot*99/100) {
		t.Errorf("-g: %d of %d samples in the hot functions have %s as caller", withCaller, hot, fn.caller)
	}
}

// funcName is the name of a location's outermost function, "" when it
// has none.
func funcName(loc *profile.Location) string {
	if len(loc.Line) == 0 {
		return ""
	}
	return loc.Line[len(loc.Line)-1].Function.Name
}

// checkAttach starts the program for long, attaches vpmu record -p to
// it, interrupts vpmu once it has opened its samplers, and checks the
// profile it then writes.
func (e *e2e) checkAttach(t *testing.T, bin string, fn hotFuncs) {
	prog := exec.Command(bin, "1000000")
	if err := prog.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		prog.Process.Kill()
		prog.Wait()
	}()
	out := filepath.Join(t.TempDir(), "attach.pb.gz")
	rec := exec.Command(e.vpmu, "record", "-g", "-F", "1000", "-p", strconv.Itoa(prog.Process.Pid), "-o", out)
	var stderr bytes.Buffer
	rec.Stderr = &stderr
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	// Samplers are opened after vpmu handles SIGINT; wait for their fds.
	for n := 0; perfFDs(rec.Process.Pid) == 0; n++ {
		if n == 3000 {
			rec.Process.Kill()
			rec.Wait()
			t.Fatalf("vpmu opened no perf fds; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let it take some samples: about 1000 a second.
	time.Sleep(time.Second)
	rec.Process.Signal(os.Interrupt)
	err := rec.Wait()
	if err != nil {
		t.Fatalf("vpmu record -p after SIGINT: %v; stderr:\n%s", err, stderr.String())
	}
	p := readProfile(t, out)
	var pidOK bool
	for _, s := range p.Sample {
		if v := s.NumLabel["pid"]; len(v) == 1 && v[0] == int64(prog.Process.Pid) {
			pidOK = true
		}
	}
	funcs := profileFunctions(p)
	if !pidOK || funcs[fn.heavy] == 0 || funcs[fn.light] == 0 {
		t.Errorf("attached profile: pid label found %v, functions %v; stderr:\n%s", pidOK, funcs, stderr.String())
	}
	checkStacks(t, p, fn, true)
}

// checkUnprivileged runs vpmu record as user nobody where
// perf_event_paranoid is 2: kernel mode may not be sampled, so the
// default event must be sampled in user mode only, with a note, and the
// profile must still show the hot functions.
func (e *e2e) checkUnprivileged(t *testing.T, bin string, fn hotFuncs) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to run vpmu as another user")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/perf_event_paranoid"); err != nil || strings.TrimSpace(string(b)) != "2" {
		t.Skipf("skipping: needs perf_event_paranoid 2 (have %q, %v)", b, err)
	}
	// nobody must reach the binaries and write the profile.
	for _, d := range []string{filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outDir := filepath.Join(e.dir, "nobody")
	if err := os.Mkdir(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(outDir, 0o777) // past the umask
	out := filepath.Join(outDir, "p.pb.gz")
	cmd := exec.Command(e.vpmu, "record", "-g", "-o", out, "--", bin)
	cmd.Dir = outDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vpmu record as nobody: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "in user mode only (perf_event_paranoid is 2") {
		t.Errorf("no user-mode note; stderr:\n%s", stderr.String())
	}
	p := readProfile(t, out)
	if typ := p.SampleType[1].Type; !strings.HasSuffix(typ, ":u") {
		t.Errorf("sample type %q, want a user-mode event", typ)
	}
	funcs := profileFunctions(p)
	if funcs[fn.heavy] == 0 || funcs[fn.light] == 0 {
		t.Errorf("functions %v", funcs)
	}
	for _, s := range p.Sample {
		for _, loc := range s.Location {
			if loc.Address >= 1<<63 {
				t.Fatalf("a kernel address %#x in a user-mode profile", loc.Address)
			}
		}
	}
}

// perfFDs counts the perf_event fds process pid has open.
func perfFDs(pid int) int {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == "anon_inode:[perf_event]" {
			n++
		}
	}
	return n
}

func readProfile(t *testing.T, file string) *profile.Profile {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	return p
}

// vpmuRun runs the built vpmu and returns its stdout, stderr and exit
// status.
func (e *e2e) vpmuRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(e.vpmu, args...)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run vpmu %q: %v", args, err)
	}
	return o.String(), er.String(), cmd.ProcessState.ExitCode()
}

// run runs a tool and returns its output, failing the test if it fails.
func (e *e2e) run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// goTool returns the go command of the toolchain running the test.
func goTool(t *testing.T) string { return testutil.GoTool(t) }
