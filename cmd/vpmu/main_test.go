package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
)

// vpmuBin is the vpmu binary, built once for the package's tests: they
// run it as a user would.
var vpmuBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vpmu-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vpmuBin = filepath.Join(dir, "vpmu")
	build := exec.Command("go", "build", "-o", vpmuBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/vpmu: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// vpmu runs the built binary and returns its stdout, stderr and exit
// status.
func vpmu(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(vpmuBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run vpmu %q: %v", args, err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// csvCounts parses perf -x, output into event -> value field.
func csvCounts(t *testing.T, out string) map[string]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, rec := range recs {
		if len(rec) < 7 {
			continue // perf's blank lines and messages
		}
		m[rec[2]] = rec[0]
	}
	return m
}

func TestStatCommand(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	stdout, stderr, code := vpmu(t, "stat", "-x,", "-e", "task-clock,page-faults,context-switches,cycles", "--", "sh", "-c", "echo hello; exit 5")
	if code != 5 {
		t.Fatalf("exit %d, want the command's 5; stderr:\n%s", code, stderr)
	}
	if stdout != "hello\n" {
		t.Errorf("stdout = %q, want the command's output only", stdout)
	}
	counts := csvCounts(t, stderr)
	for _, ev := range []string{"task-clock", "page-faults"} {
		v, err := strconv.ParseFloat(counts[ev], 64)
		if err != nil || v <= 0 {
			t.Errorf("%s = %q, want a positive count; output:\n%s", ev, counts[ev], stderr)
		}
	}
	if _, err := strconv.ParseUint(counts["context-switches"], 10, 64); err != nil {
		t.Errorf("context-switches = %q, want a count: %v", counts["context-switches"], err)
	}
	// cycles is counted where there is a PMU; without one it must say so,
	// never print 0.
	if c := counts["cycles"]; c != "<not supported>" {
		if v, err := strconv.ParseUint(c, 10, 64); err != nil || v == 0 {
			t.Errorf("cycles = %q, want <not supported> or a positive count", c)
		}
	}

	_, stderr, code = vpmu(t, "stat", "--", "sh", "-c", "kill -USR1 $$")
	if want := 128 + int(syscall.SIGUSR1); code != want {
		t.Errorf("killed by SIGUSR1: exit %d, want %d", code, want)
	}
	for _, want := range []string{" Performance counter stats for 'sh -c kill -USR1 $$':", "task-clock", "seconds time elapsed", "seconds user", "seconds sys"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("table lacks %q:\n%s", want, stderr)
		}
	}
}

func TestStatErrors(t *testing.T) {
	_, stderr, code := vpmu(t, "stat", "-e", "task-clock,no-such-event", "true")
	if code != 1 || !strings.Contains(stderr, "vpmu stat: ") || !strings.Contains(stderr, "^") {
		t.Errorf("bad spec: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = vpmu(t, "stat", "--", "/nonexistent/program")
	if code != 1 || !strings.Contains(stderr, "/nonexistent/program") {
		t.Errorf("missing program: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = vpmu(t, "stat", "--frobnicate", "true")
	if code != 1 || !strings.Contains(stderr, "unknown flag -frobnicate") {
		t.Errorf("bad flag: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestStatMatchesPerf is the native comparison of the design: software
// event counts of vpmu stat and perf stat agree for the same program.
// The program allocates and touches 8 MiB, so page faults are dominated
// by a known amount of work; counting the launch trampoline by mistake
// (a Go runtime start) would add hundreds of faults.
func TestStatMatchesPerf(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	perf, err := exec.LookPath("perf")
	if err != nil {
		t.Skipf("skipping: perf (linux-perf) is not installed: %v", err)
	}
	prog := []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1", "status=none"}
	median := func(run func() string) float64 {
		var vs []float64
		for i := 0; i < 5; i++ {
			v, err := strconv.ParseFloat(run(), 64)
			if err != nil {
				t.Fatalf("page-faults: %v", err)
			}
			vs = append(vs, v)
		}
		sort.Float64s(vs)
		return vs[2]
	}
	ours := median(func() string {
		_, stderr, code := vpmu(t, append([]string{"stat", "-x,", "-e", "page-faults", "--"}, prog...)...)
		if code != 0 {
			t.Fatalf("vpmu stat: exit %d\n%s", code, stderr)
		}
		return csvCounts(t, stderr)["page-faults"]
	})
	theirs := median(func() string {
		cmd := exec.Command(perf, append([]string{"stat", "-x,", "-e", "page-faults", "--"}, prog...)...)
		var e bytes.Buffer
		cmd.Stderr = &e
		if err := cmd.Run(); err != nil {
			t.Skipf("skipping: perf stat cannot count here: %v\n%s", err, e.String())
		}
		return csvCounts(t, e.String())["page-faults"]
	})
	t.Logf("page-faults of %q: vpmu %.0f, perf %.0f", prog, ours, theirs)
	if ours < 2048 {
		t.Errorf("vpmu counted %.0f page faults; touching 8 MiB takes at least 2048", ours)
	}
	if diff := ours - theirs; diff > 0.02*theirs+5 || diff < -(0.02*theirs+5) {
		t.Errorf("vpmu %.0f vs perf %.0f page faults: more than 2%% apart", ours, theirs)
	}
}

// TestStatAttach counts an existing process until SIGINT, as perf stat -p.
func TestStatAttach(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	target := exec.Command("sleep", "60")
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		target.Process.Kill()
		target.Wait()
	}()
	cmd := exec.Command(vpmuBin, "stat", "-p", strconv.Itoa(target.Process.Pid), "-e", "task-clock,context-switches")
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// vpmu handles SIGINT before it opens counters: wait until the perf
	// fds show up, then interrupt.
	fdDir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
	for opened := false; !opened; {
		ents, _ := os.ReadDir(fdDir)
		for _, ent := range ents {
			l, _ := os.Readlink(filepath.Join(fdDir, ent.Name()))
			opened = opened || strings.Contains(l, "perf_event")
		}
		if !opened {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vpmu stat -p after SIGINT: %v\n%s", err, e.String())
	}
	want := fmt.Sprintf(" Performance counter stats for process id '%d':", target.Process.Pid)
	if !strings.Contains(e.String(), want) || !strings.Contains(e.String(), "task-clock") {
		t.Errorf("output lacks %q or task-clock:\n%s", want, e.String())
	}
}

func TestList(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	stdout, stderr, code := vpmu(t, "list", "sw")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	found := false
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "task-clock ") {
			found = true
			if strings.Contains(l, "<not supported>") {
				t.Errorf("task-clock marked unsupported where software perf events work: %q", l)
			}
		}
	}
	if !found {
		t.Errorf("vpmu list sw lacks task-clock:\n%s", stdout)
	}
	stdout, _, code = vpmu(t, "list", "--json", "vm")
	if code != 0 || !strings.Contains(stdout, `"name": "syscalls"`) || !strings.Contains(stdout, `"status": "not supported"`) {
		t.Errorf("vpmu list --json vm: exit %d\n%s", code, stdout)
	}
}
