package cli

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/internal/testutil"
)

// lockedBuffer is a bytes.Buffer safe for writes from several VCPU
// goroutines at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// vpmuIn runs the vpmu command line in-process and returns the exit
// status, stdout and stderr.
func vpmuIn(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb lockedBuffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	code := env.Run(args)
	return code, out.String(), errb.String()
}

// hvTestdata is the hypervisor's test guests.
const hvTestdata = "../../hypervisor/testdata"

// cGuest compiles a C guest of the hypervisor's testdata.
func cGuest(t *testing.T, name string) string {
	t.Helper()
	testutil.MustHaveKVM(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("skipping: gcc not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	src := filepath.Join(hvTestdata, name+".c")
	if b, err := exec.Command(gcc, "-static", "-O2", "-I", hvTestdata, "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

var goBuilds sync.Map // package path -> *goBuild

type goBuild struct {
	once sync.Once
	path string
	err  error
}

// goBinary builds a Go main package (CGO_ENABLED=0) once per test binary.
func goBinary(t *testing.T, pkg string) string {
	t.Helper()
	testutil.MustHaveKVM(t)
	gotool := testutil.GoTool(t)
	v, _ := goBuilds.LoadOrStore(pkg, &goBuild{})
	b := v.(*goBuild)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "vpmu-cli-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command(gotool, "build", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// statRow is one line of vpmu stat -x, output with one label column.
type statRow struct {
	label, value, event string
}

func parseStatCSV(t *testing.T, out string, labels int) []statRow {
	t.Helper()
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v\n%s", err, out)
	}
	var rows []statRow
	for _, rec := range recs {
		if len(rec) != 7+labels {
			continue
		}
		rows = append(rows, statRow{label: strings.Join(rec[:labels], "|"), value: rec[labels], event: rec[labels+2]})
	}
	return rows
}

// TestStatVMExactPerThread runs 8 threads on 2 VCPUs and 1 PCPU, each
// making a known number of system calls in its life, under vpmu stat --vm
// --per-thread: every worker's row is exact, and the rows add up to the
// VM total, which equals the sum over VCPUs.
func TestStatVMExactPerThread(t *testing.T) {
	prog := cGuest(t, "vpmu_tally")
	sum := func(rows []statRow, event string) (total uint64, each map[string]uint64) {
		each = map[string]uint64{}
		for _, r := range rows {
			if r.event != event || r.label == "" {
				continue
			}
			v, err := strconv.ParseUint(r.value, 10, 64)
			if err != nil {
				t.Fatalf("%s of %s = %q", event, r.label, r.value)
			}
			each[r.label] = v
			total += v
		}
		return total, each
	}
	vmTotal := func(rows []statRow, event string) string {
		for _, r := range rows {
			if r.event == event && r.label == "" {
				return r.value
			}
		}
		t.Fatalf("no total row for %s", event)
		return ""
	}
	code, stdout, stderr := vpmuIn(t, "stat", "--vm", "--per-thread", "--vcpus", "2", "--pcpus", "1", "-x,",
		"-e", "syscalls,vm-exits,context-switches,task-clock,cycles", "--", prog, "8")
	if code != 0 || stdout != "8 threads done\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	rows := parseStatCSV(t, stderr, 1)
	total, each := sum(rows, "syscalls")
	for k := 1; k <= 8; k++ {
		label := fmt.Sprintf("vpmu_tally-%d", 1000+k)
		if want := uint64(100*k + k - 1 + 1); each[label] != want {
			t.Errorf("%s: %d system calls, want exactly %d", label, each[label], want)
		}
	}
	if got := vmTotal(rows, "syscalls"); got != strconv.FormatUint(total, 10) {
		t.Errorf("the threads made %d system calls, the VM total says %s", total, got)
	}
	if got := vmTotal(rows, "cycles"); got != "<not supported>" {
		t.Errorf("cycles total %q, want <not supported> here (no PMU, no precise mode)", got)
	}

	code, _, stderr = vpmuIn(t, "stat", "--vm", "--per-vcpu", "--vcpus", "2", "--pcpus", "1", "-x,",
		"-e", "syscalls", "--", prog, "8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows = parseStatCSV(t, stderr, 1)
	vcpus, each := sum(rows, "syscalls")
	if len(each) != 2 || vmTotal(rows, "syscalls") != strconv.FormatUint(vcpus, 10) {
		t.Errorf("per-VCPU rows %v, total %s", each, vmTotal(rows, "syscalls"))
	}
}

// TestStatVMGuestlib runs 8 Go threads that read their own counters
// through guestlib under vpmu stat --vm --per-thread: each thread's own
// reading is exact, and its row in the table covers at least that.
func TestStatVMGuestlib(t *testing.T) {
	prog := goBinary(t, "../../hypervisor/testdata/vpmuguest")
	t.Setenv("GODEBUG", "asyncpreemptoff=1")
	code, stdout, stderr := vpmuIn(t, "stat", "--vm", "--per-thread", "--vcpus", "2", "--pcpus", "1", "-x,",
		"-e", "syscalls,task-clock", "--", prog, "tally", "8")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rows := parseStatCSV(t, stderr, 1)
	perThread := map[int]uint64{}
	var total, sum uint64
	for _, r := range rows {
		if r.event != "syscalls" {
			continue
		}
		v, _ := strconv.ParseUint(r.value, 10, 64)
		if r.label == "" {
			total = v
			continue
		}
		tid, _ := strconv.Atoi(r.label[strings.LastIndexByte(r.label, '-')+1:])
		perThread[tid] = v
		sum += v
	}
	if sum != total || total == 0 {
		t.Errorf("threads sum to %d system calls, the VM total is %d", sum, total)
	}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var w, tid, k, sys, exits, pv, all int
		if n, _ := fmt.Sscanf(l, "worker %d tid %d k %d syscalls %d exits %d pv %d total %d", &w, &tid, &k, &sys, &exits, &pv, &all); n != 7 {
			t.Fatalf("guest line %q", l)
		}
		if sys != k {
			t.Errorf("worker %d read %d system calls around its %d", w, sys, k)
		}
		if perThread[tid] < uint64(all) {
			t.Errorf("worker %d (thread %d) counted %d system calls itself, the table only %d", w, tid, all, perThread[tid])
		}
	}
}

// TestDemo runs vpmu demo with the vpmu binary as the guest.
func TestDemo(t *testing.T) {
	bin := goBinary(t, "../../cmd/vpmu")
	prof := filepath.Join(t.TempDir(), "demo.pb.gz")
	code, stdout, stderr := vpmuIn(t, "demo", "--guest-binary", bin, "--threads", "4", "-o", prof)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	checkDemoProfile(t, readProfile(t, prof), stdout, prof)
	for k := 0; k < 4; k++ {
		calls, _ := demoWork(k)
		want := fmt.Sprintf("made %d system calls, counted %d;", calls, calls)
		if !strings.Contains(stdout, fmt.Sprintf("worker %d (thread ", k)) || !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks worker %d's exact count %q:\n%s", k, want, stdout)
		}
	}
	for _, want := range []string{"Performance counter stats for every thread of the demo guest", "task-clock", "context-switches", "What the numbers mean"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := vpmuIn(t, "__demo-guest"); code != 1 || !strings.Contains(stderr, "runs only inside the vpmu hypervisor") {
		t.Errorf("the guest side outside the VM: exit %d, %s", code, stderr)
	}
	if code, stdout, _ := vpmuIn(t, "help"); code != 0 || strings.Contains(stdout, "__demo-guest") || !strings.Contains(stdout, "demo") {
		t.Errorf("help lists the hidden command, or not the demo:\n%s", stdout)
	}
}

// checkDemoProfile checks the profile vpmu demo wrote: task-clock
// samples with VM labels, stacks through the workers' code with source
// lines, and the output that says where the profile is.
func checkDemoProfile(t *testing.T, p *profile.Profile, stdout, path string) {
	t.Helper()
	if len(p.SampleType) != 2 || p.SampleType[1].Type != "task-clock" || len(p.Sample) == 0 {
		t.Fatalf("demo profile: sample types %v, %d samples", p.SampleType, len(p.Sample))
	}
	// The share of guest time in the workers' code, by the samples'
	// task-clock values: under load, late overflows share a sample, so
	// the number of samples varies but their values add up to the time.
	var worker, total int64
	for _, s := range p.Sample {
		if len(s.Label["vm"]) != 1 || len(s.NumLabel["tid"]) != 1 || len(s.NumLabel["vcpu"]) != 1 {
			t.Fatalf("demo sample without VM labels: %v %v", s.Label, s.NumLabel)
		}
		total += s.Value[1]
	stack:
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if strings.HasSuffix(l.Function.Name, "cli.demoWorker") && l.Line > 0 && strings.HasSuffix(l.Function.Filename, "demo_guest.go") {
					worker += s.Value[1]
					break stack
				}
			}
		}
	}
	// The workers' loops are most of the guest's time: 70% of it on a
	// quiet machine, about half under load, where host preemption of a
	// VCPU in guest mode counts as guest time of whichever thread ran.
	t.Logf("demo profile: %d samples, %d of %d ns of task-clock in cli.demoWorker", len(p.Sample), worker, total)
	if worker*5 < total {
		t.Errorf("demo profile: %d of %d ns of task-clock pass through cli.demoWorker with a line in demo_guest.go, want at least 20%%", worker, total)
	}
	if !slices.ContainsFunc(p.Comments, func(c string) bool { return strings.HasPrefix(c, "virtual PMIs: ") }) {
		t.Errorf("demo profile comments lack the virtual PMI counts: %q", p.Comments)
	}
	if !strings.Contains(stdout, "go tool pprof -top "+path) {
		t.Errorf("demo output does not say where the profile is:\n%s", stdout)
	}
}

func TestParseVMMem(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"512M", 512 << 20, true}, {"2G", 2 << 30, true}, {"2GiB", 2 << 30, true}, {"1048576", 1 << 20, true},
		{"64k", 64 << 10, true}, {"1T", 1 << 40, true}, {"0", 0, false}, {"-1G", 0, false}, {"G", 0, false},
		{"lots", 0, false}, {"99999999999T", 0, false},
	} {
		got, err := parseVMMem(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseVMMem(%q) = %d, %v", tc.in, got, err)
		}
	}
}
