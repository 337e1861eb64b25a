package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// wantLines fails unless every regexp matches some line of out.
func wantLines(t *testing.T, out string, res ...string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for _, re := range res {
		r := regexp.MustCompile(re)
		found := false
		for _, l := range lines {
			found = found || r.MatchString(l)
		}
		if !found {
			t.Errorf("no line matches %q in:\n%s", re, out)
		}
	}
}

func TestStatDefaultEvents(t *testing.T) {
	h := newHarness(t)
	if code := h.run("stat", "--", "sh", "-c", "echo out; echo err >&2"); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	if got := h.stdout.String(); got != "out\n" {
		t.Errorf("command stdout = %q, want %q (the report goes to stderr)", got, "out\n")
	}
	out := h.stderr.String()
	if !strings.HasPrefix(out, "err\n") {
		t.Errorf("command stderr should come before the report:\n%s", out)
	}
	wantLines(t, out,
		`^ Performance counter stats for 'sh -c echo out; echo err >&2':$`,
		`^ +1\.50 msec task-clock +# +0\.002 CPUs utilized$`,
		`^ +3 +context-switches +# +2\.000 K/sec$`,
		`^ +0 +cpu-migrations +# +0\.000 /sec$`,
		`^ +120 +page-faults +# +80\.000 K/sec$`,
		`^ +<not supported> +cycles$`,
		`^ +<not supported> +branch-misses$`,
		`^ Not supported \(cycles, instructions, branches, branch-misses\):$`,
		`^   no hardware PMU: this machine is a VM without a virtual PMU \(no such file or directory\)$`,
		`^ +1\.000000000 seconds time elapsed$`,
		`^ +\d+\.\d{9} seconds user$`,
		`^ +\d+\.\d{9} seconds sys$`,
	)
	// Every counter is opened on the command's pid, inheriting and
	// enabled on exec, before the command is released.
	log := h.src.history()
	if log[0] != "launch" {
		t.Fatalf("log starts with %q, want launch:\n%s", log[0], strings.Join(log, "\n"))
	}
	released := -1
	for i, l := range log {
		if strings.HasPrefix(l, "release") {
			released = i
		}
	}
	if released < 0 {
		t.Fatalf("command never released:\n%s", strings.Join(log, "\n"))
	}
	pid := strings.TrimPrefix(log[released], "release ")
	opened := 0
	for i, l := range log {
		if !strings.HasPrefix(l, "open ") {
			continue
		}
		opened++
		if i > released {
			t.Errorf("%q after the release", l)
		}
		if !strings.HasSuffix(l, pid+" inherit=true enable-on-exec=true") {
			t.Errorf("%q: want %s inherit=true enable-on-exec=true", l, pid)
		}
	}
	if opened != 4 {
		t.Errorf("opened %d counters, want the 4 software events:\n%s", opened, strings.Join(log, "\n"))
	}
}

func TestStatExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -TERM $$", 128 + int(syscall.SIGTERM)},
		{"kill -KILL $$", 128 + int(syscall.SIGKILL)},
	} {
		h := newHarness(t)
		if code := h.run("stat", "-x,", "sh", "-c", tc.script); code != tc.code {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", tc.script, code, tc.code, h.stderr.String())
		}
	}
}

func TestStatFormats(t *testing.T) {
	h := newHarness(t)
	if code := h.run("stat", "-x", ";", "-e", "task-clock,cycles", "true"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	want := "1.50;msec;task-clock;1500000;100.00;0.002;CPUs utilized\n<not supported>;;cycles;0;100.00;;\n"
	if got := h.stderr.String(); got != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", got, want)
	}

	if code := h.run("stat", "--json", "--event=task-clock", "-e", "cycles", "true"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(h.stderr.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("JSON: %d lines, want 2 events and a summary:\n%s", len(lines), h.stderr.String())
	}
	var ev, sum map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["event"] != "cycles" || ev["counter-value"] != "<not supported>" || ev["not-supported-reason"] == nil {
		t.Errorf("cycles line: %v", ev)
	}
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil {
		t.Fatal(err)
	}
	if sum["exit-status"] != 0.0 || sum["elapsed-seconds"] != 1.0 {
		t.Errorf("summary: %v", sum)
	}

	if code := h.run("stat", "-o", "out.txt", "-e", "task-clock", "true"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if h.stderr.Len() != 0 {
		t.Errorf("with -o, stderr = %q, want nothing", h.stderr.String())
	}
	wantLines(t, h.files["out.txt"].String(), `task-clock +# +0\.002 CPUs utilized$`)
}

// TestStatGroups checks that an explicit group is reopened without the
// event the source refuses, and that hypervisor events are not opened.
func TestStatGroups(t *testing.T) {
	h := newHarness(t)
	h.cat.groups = map[string]pmu.Spec{
		"{task-clock,cycles,page-faults},syscalls": {Groups: []pmu.Group{
			{Explicit: true, Events: []pmu.Event{fakeEvents["task-clock"], fakeEvents["cycles"], fakeEvents["page-faults"]}},
			{Events: []pmu.Event{fakeEvents["syscalls"]}},
		}},
	}
	h.src.values["page-faults"] = pmu.Value{Raw: 500, Enabled: 2 * time.Millisecond, Running: time.Millisecond}
	if code := h.run("stat", "-e", "{task-clock,cycles,page-faults},syscalls", "true"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	var opens []string
	for _, l := range h.src.history() {
		if strings.HasPrefix(l, "open ") || strings.HasPrefix(l, "refuse ") {
			opens = append(opens, strings.Fields(l)[0]+" "+strings.Fields(l)[1])
		}
	}
	if want := []string{"refuse {task-clock,cycles,page-faults}", "open {task-clock,page-faults}"}; fmt.Sprint(opens) != fmt.Sprint(want) {
		t.Errorf("opens = %q, want %q", opens, want)
	}
	wantLines(t, h.stderr.String(),
		`^ +1\.50 msec task-clock`,
		`^ +<not supported> +cycles$`,
		`^ +1,000 +page-faults +# +666\.667 K/sec +\(50\.00%\)$`,
		`^ +<not supported> +syscalls$`,
		`^   counted only inside the vpmu hypervisor \(use --vm\)$`,
	)
}

func TestStatReadError(t *testing.T) {
	h := newHarness(t)
	h.src.readErr = map[string]error{"page-faults": syscall.EIO}
	if code := h.run("stat", "-e", "task-clock,page-faults", "true"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	wantLines(t, h.stderr.String(),
		`^ +<not counted> +page-faults$`,
		`^ Not counted \(page-faults\):$`,
		`^   read page-faults: input/output error$`,
	)
}

// TestStatOpenError checks that an open failure other than "not
// supported" stops vpmu before the command runs, and that the held
// command is aborted and reaped.
func TestStatOpenError(t *testing.T) {
	h := newHarness(t)
	h.src.openErr = fmt.Errorf("perf_event_open: %w", syscall.EMFILE)
	marker := t.TempDir() + "/ran"
	if code := h.run("stat", "-e", "task-clock", "sh", "-c", "sleep 1; touch "+marker); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	wantLines(t, h.stderr.String(), `^vpmu stat: open task-clock: perf_event_open: too many open files$`)
	log := h.src.history()
	if log[len(log)-1] != "abort" {
		t.Errorf("the held command was not aborted:\n%s", strings.Join(log, "\n"))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran to completion after the setup error")
	}
}

// TestStatSignals checks perf's signal behaviour while a command runs:
// SIGINT is left to the command (vpmu keeps waiting), SIGTERM is
// forwarded.
func TestStatSignals(t *testing.T) {
	h := newHarness(t)
	h.release = func(h *harness) {
		if !h.signal(os.Interrupt) {
			t.Error("no signal channel registered at release")
		}
	}
	if code := h.run("stat", "-e", "task-clock", "sh", "-c", "exit 4"); code != 4 {
		t.Errorf("after SIGINT: exit %d, want the command's 4; stderr:\n%s", code, h.stderr.String())
	}

	h.release = func(h *harness) { h.signal(syscall.SIGTERM) }
	if code := h.run("stat", "-e", "task-clock", "sleep", "60"); code != 128+int(syscall.SIGTERM) {
		t.Errorf("after SIGTERM: exit %d, want %d; stderr:\n%s", code, 128+int(syscall.SIGTERM), h.stderr.String())
	}
	wantLines(t, h.stderr.String(), `task-clock`)
}

func TestStatAttach(t *testing.T) {
	h := newHarness(t)
	pid := os.Getpid()
	go func() {
		// Interrupt once the counters are open.
		for !h.signal(os.Interrupt) {
			time.Sleep(time.Millisecond)
		}
	}()
	if code := h.run("stat", "-p", fmt.Sprint(pid), "-e", "task-clock,cycles"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	out := h.stderr.String()
	wantLines(t, out,
		fmt.Sprintf(`^ Performance counter stats for process id '%d':$`, pid),
		`^ +1\.50 msec task-clock`,
		`^ +<not supported> +cycles$`,
		`seconds time elapsed$`,
	)
	if strings.Contains(out, "seconds user") {
		t.Errorf("an attached process has no rusage, but user time was printed:\n%s", out)
	}
	if got := h.src.target[0]; got.PID != pid || got.EnableOnExec {
		t.Errorf("attached target = %+v, want pid %d without enable-on-exec", got, pid)
	}

	// The count also ends when the process exits.
	polls := 0
	h.alive = func(int) bool { polls++; return polls < 3 }
	if code := h.run("stat", "--pid=4242", "-e", "task-clock"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if polls != 3 {
		t.Errorf("Alive called %d times, want 3 (1 check, then polls until false)", polls)
	}
	wantLines(t, h.stderr.String(), `^ Performance counter stats for process id '4242':$`)

	h.alive = func(int) bool { return false }
	if code := h.run("stat", "-p", "4242"); code != 1 {
		t.Errorf("dead pid: exit %d, want 1", code)
	}
	wantLines(t, h.stderr.String(), `^vpmu stat: -p 4242: no such process$`)
}

func TestStatUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"stat"}, `^vpmu stat: nothing to count: give a command`},
		{[]string{"stat", "--bogus", "true"}, `^vpmu stat: unknown flag -bogus$`},
		{[]string{"stat", "-e"}, `^vpmu stat: flag needs an argument: -e$`},
		{[]string{"stat", "-x,", "--json", "true"}, `^vpmu stat: -x and --json cannot be used together$`},
		{[]string{"stat", "-x", "", "true"}, `^vpmu stat: -x: bad CSV separator "": it must be non-empty`},
		{[]string{"stat", "-p", "abc"}, `^vpmu stat: -p: bad process id "abc": want a positive number$`},
		{[]string{"stat", "--pid", "-3"}, `^vpmu stat: --pid: bad process id "-3"`},
		{[]string{"stat", "-p", "1", "true"}, `^vpmu stat: -p and a command cannot be used together \(got command "true"\)$`},
	} {
		h := newHarness(t)
		if code := h.run(tc.args...); code != 1 {
			t.Errorf("%q: exit %d, want 1", tc.args, code)
		}
		wantLines(t, h.stderr.String(), tc.msg, `^Run 'vpmu help stat' for usage\.$`)
	}
}

func TestStatSetupErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msgs []string
	}{
		{[]string{"stat", "-e", "cycles,bogus", "true"}, []string{
			`^vpmu stat: event spec "cycles,bogus": unknown event at offset 7 \("bogus"\)$`,
			`^    cycles,bogus$`,
			`^           \^\^\^\^\^$`,
			`^Run 'vpmu list' for the events known here\.$`,
		}},
		{[]string{"stat", "--per-thread", "true"}, []string{`^vpmu stat: --per-thread counts in the vpmu hypervisor: it needs --vm$`}},
		{[]string{"stat", "--per-vcpu", "true"}, []string{`^vpmu stat: --per-vcpu counts in the vpmu hypervisor: it needs --vm$`}},
		{[]string{"stat", "--vcpus", "2", "true"}, []string{`^vpmu stat: --vcpus counts in the vpmu hypervisor: it needs --vm$`}},
		{[]string{"stat", "--vm", "-p", "1"}, []string{`^vpmu stat: --vm runs a command in the vpmu hypervisor; it cannot attach to -p$`}},
		{[]string{"stat", "--vm", "--vcpus", "1000", "true"}, []string{`^vpmu stat: --vcpus 1000: want 1 to 64$`}},
		{[]string{"stat", "--vm", "--mem", "lots", "true"}, []string{`^vpmu stat: --mem "lots": want a positive size such as 512M or 2G$`}},
		{[]string{"stat", "no-such-command-vpmu"}, []string{`^vpmu stat: cannot run command: exec: "no-such-command-vpmu": executable file not found in \$PATH$`}},
		{[]string{"stat", "-o", "/nonexistent/x", "true"}, []string{`^vpmu stat: -o: open /nonexistent/x: no such file or directory$`}},
	} {
		h := newHarness(t)
		if code := h.run(tc.args...); code != 1 {
			t.Errorf("%q: exit %d, want 1", tc.args, code)
		}
		wantLines(t, h.stderr.String(), tc.msgs...)
	}
}

func TestStatNotWired(t *testing.T) {
	h := newHarness(t)
	env := h.env()
	env.Source, env.Launch, env.OpenProcess = nil, nil, nil
	if code := env.Run([]string{"stat", "true"}); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	wantLines(t, h.stderr.String(), `^vpmu stat: no counter backend to launch a command with: not available in this build$`)
}

func TestSplitAttached(t *testing.T) {
	fs := newFlagSet("t")
	var s string
	var b bool
	fs.StringVar(&s, "x", "", "")
	fs.StringVar(&s, "e", "", "")
	fs.StringVar(&s, "event", "", "")
	fs.BoolVar(&b, "j", false, "")
	fs.BoolVar(&b, "json", false, "")
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-x,", "cmd"}, []string{"-x", ",", "cmd"}},
		{[]string{"-x", ",", "cmd", "-x;"}, []string{"-x", ",", "cmd", "-x;"}},
		{[]string{"-ecycles", "-event", "x", "--event=y"}, []string{"-e", "cycles", "-event", "x", "--event=y"}},
		{[]string{"-j", "-ecycles"}, []string{"-j", "-e", "cycles"}},
		{[]string{"-jx"}, []string{"-jx"}},
		{[]string{"--", "-x,"}, []string{"--", "-x,"}},
		{[]string{"-e", "-x,"}, []string{"-e", "-x,"}},
		{[]string{"-"}, []string{"-"}},
	} {
		if got := splitAttached(fs, tc.in); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("splitAttached(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStatRealCatalog runs vpmu stat's spec handling against the pmu
// package's catalog: the default events resolve, and a bad spec gets the
// parser's caret.
func TestStatRealCatalog(t *testing.T) {
	cat := PMUCatalog{pmu.DefaultCatalog()}
	o := &statOptions{}
	spec, err := o.spec(cat)
	if err != nil {
		t.Fatalf("default events: %v", err)
	}
	var names []string
	for _, e := range spec.Events() {
		names = append(names, e.String())
	}
	if strings.Join(names, ",") != strings.Join(defaultEvents, ",") || len(spec.Groups) != len(defaultEvents) {
		t.Errorf("default spec = %v (%d groups), want %v, one group each", names, len(spec.Groups), defaultEvents)
	}

	h := newHarness(t)
	env := h.env()
	env.Catalog = cat
	if code := env.Run([]string{"stat", "-e", "task-clock", "-e", "cycles:u,bogus-event", "true"}); code != 1 {
		t.Errorf("bad spec: exit %d, want 1", code)
	}
	wantLines(t, h.stderr.String(),
		`^vpmu stat: .*bogus-event`,
		`^    cycles:u,bogus-event$`,
		`^             \^+$`,
	)
}
