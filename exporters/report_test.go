package exporters

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

func TestGroupThousands(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"},
		{"999", "999"},
		{"1000", "1,000"},
		{"123456", "123,456"},
		{"1234567", "1,234,567"},
		{"1987.65", "1,987.65"},
		{"999.99", "999.99"},
		{"-1234567.5", "-1,234,567.5"},
		{"18446744073709551615", "18,446,744,073,709,551,615"},
		{"NaN", "NaN"},
		{"+Inf", "+Inf"},
	} {
		if got := groupThousands(tc.in); got != tc.want {
			t.Errorf("groupThousands(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTargetString(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{Command: []string{"sleep", "1"}}, "'sleep 1'"},
		{Target{PID: 42}, "process id '42'"},
		{Target{Command: []string{"x"}, Desc: "'x' in the vpmu VM"}, "'x' in the vpmu VM"},
		{Target{}, "'unknown target'"},
	} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		s     ExitStatus
		code  int
		descr string
	}{
		{ExitStatus{}, 0, "exit status 0"},
		{ExitStatus{Code: 3}, 3, "exit status 3"},
		{ExitStatus{Signal: syscall.SIGKILL}, 137, "killed by signal killed"},
		{ExitStatus{Signal: syscall.SIGINT}, 130, "killed by signal interrupt"},
	} {
		if got := tc.s.ShellCode(); got != tc.code {
			t.Errorf("%+v.ShellCode() = %d, want %d", tc.s, got, tc.code)
		}
		if got := tc.s.String(); got != tc.descr {
			t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.descr)
		}
	}
}

func TestRowStateAndReason(t *testing.T) {
	ns := &pmu.NotSupportedError{Event: "cycles", Reason: "no PMU"}
	for _, tc := range []struct {
		name    string
		row     Row
		counted bool
		reason  string
	}{
		{"counted", Row{Value: full(evCycles, 0, time.Second)}, true, ""},
		{"zero count is still a count", Row{Value: full(evCycles, 0, 1)}, true, ""},
		{"not supported", Row{Value: pmu.Value{Event: evCycles}, Err: ns}, false, "no PMU"},
		{"wrapped not supported", Row{Err: errors.Join(errors.New("open group"), ns)}, false, "no PMU"},
		{"not supported with errno", Row{Err: &pmu.NotSupportedError{Reason: "paranoid", Err: syscall.EACCES}}, false, "paranoid (permission denied)"},
		{"bare sentinel", Row{Err: pmu.ErrNotSupported}, false, "not supported"},
		{"never ran", Row{Value: pmu.Value{Event: evCycles, Raw: 5, Enabled: time.Second}}, false, "enabled but never ran: the PMU had no free counter for it, or the target did not run"},
		{"explicit not counted", Row{Value: full(evCycles, 5, time.Second), Err: ErrNotCounted}, false, "enabled but never ran: the PMU had no free counter for it, or the target did not run"},
		{"read error", Row{Err: syscall.EIO}, false, "input/output error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.row.Counted(); got != tc.counted {
				t.Errorf("Counted() = %v, want %v", got, tc.counted)
			}
			if got := tc.row.Reason(); got != tc.reason {
				t.Errorf("Reason() = %q, want %q", got, tc.reason)
			}
		})
	}
}

// TestMetrics checks each derived metric's value and unit against
// numbers computed by hand, and that metrics pair rows only within one
// thread and privilege domain.
func TestMetrics(t *testing.T) {
	const sec = time.Second
	user := pmu.ExcludeKernel | pmu.ExcludeHV
	cyclesU := evCycles
	cyclesU.Modifiers, cyclesU.Exclude = "u", user
	insnsU := evInsns
	insnsU.Modifiers, insnsU.Exclude = "u", user
	t1 := ThreadLabels(1, "a")
	t2 := ThreadLabels(2, "b")
	rows := []Row{
		{Value: full(evTaskClock, uint64(500*time.Millisecond), sec)}, // 0
		{Value: full(evCycles, 1_000_000_000, sec)},                   // 1: 2 GHz
		{Value: full(evInsns, 2_500_000_000, sec)},                    // 2: 2.5 IPC
		{Value: full(evBranches, 400, sec)},                           // 3: 800/sec
		{Value: full(evBrMisses, 100, sec)},                           // 4: 25%
		{Value: full(evPageFaults, 2_000_000, sec)},                   // 5: 4 M/sec
		{Value: full(insnsU, 10, sec)},                                // 6: no cycles:u: no IPC
		{Value: full(cyclesU, 0, sec)},                                // 7: 0 cycles:u (ratio skipped, GHz 0)
		{Labels: t1, Value: full(evInsns, 30, sec)},                   // 8: no cycles for thread 1
		{Labels: t2, Value: full(evCycles, 10, sec)},                  // 9
		{Labels: t2, Value: full(evInsns, 30, sec)},                   // 10: 3 IPC
		{Value: muxed(evCacheMisses, 10, sec, 50)},                    // 11: scaled 20 of 80 = 25%
		{Value: full(evCacheRefs, 80, sec)},                           // 12
		{Value: full(evL1DMisses, 5, sec)},                            // 13: 5 of 50 = 10%
		{Value: full(evL1DLoads, 50, sec)},                            // 14
		{Value: full(evBrMisses, 1, sec), Labels: t1},                 // 15: no branches, no clock for t1: nothing
		{Value: pmu.Value{Event: evCycles}, Err: pmu.ErrNotSupported}, // 16: none
		{Value: full(pmu.Event{Name: "task-clock", Kind: pmu.KindVirtual}, uint64(sec), sec), Labels: ThreadLabels(3, "")},
		{Value: full(pmu.Event{Name: "cycles", Kind: pmu.KindVirtual}, 3_000_000_000, sec), Labels: ThreadLabels(3, "")}, // 18: 3 GHz by name
	}
	r := &Report{Rows: rows, Elapsed: 2 * sec}
	ms := r.metrics()
	want := []struct {
		value float64
		unit  string
	}{
		{0.25, "CPUs utilized"},
		{2, "GHz"},
		{2.5, "insn per cycle"},
		{800, "/sec"},
		{25, "of all branches"},
		{4, "M/sec"},
		{0, ""},
		{0, "GHz"},
		{0, ""},
		{0, ""},
		{3, "insn per cycle"},
		{25, "of all cache refs"},
		{160, "/sec"},
		{10, "of all L1-dcache accesses"},
		{100, "/sec"},
		{0, ""},
		{0, ""},
		{0.5, "CPUs utilized"},
		{3, "GHz"},
	}
	for i, w := range want {
		m := ms[i]
		if m.Unit != w.unit || math.Abs(m.Value-w.value) > 1e-9*math.Max(1, w.value) {
			t.Errorf("row %d (%s): metric = %v %q, want %v %q", i, rows[i].Name(), m.Value, m.Unit, w.value, w.unit)
		}
	}
}

func TestMetricNumber(t *testing.T) {
	for _, tc := range []struct {
		m    metric
		want string
	}{
		{metric{1.5, "%7.2f ", "insn per cycle"}, "1.50"},
		{metric{12.345, "%7.2f%%", "of all branches"}, "12.35"},
		{metric{0.0131, "%8.3f", "CPUs utilized"}, "0.013"},
		{metric{}, ""},
	} {
		if got := tc.m.Number(); got != tc.want {
			t.Errorf("%+v.Number() = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// TestExactCounts checks that counts beyond 2^53, which float64 cannot
// hold, print exactly when no scaling applies.
func TestExactCounts(t *testing.T) {
	const big = 1<<60 + 1 // 1152921504606846977
	r := &Report{Rows: []Row{{Value: full(evInsns, big, time.Second)}}}
	var table, csv, js bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteCSV(&csv, ";"); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ out, want string }{
		{table.String(), "1,152,921,504,606,846,977"},
		{csv.String(), "1152921504606846977;;instructions;"},
		{js.String(), `"counter-value":"1152921504606846977.000000"`},
		{js.String(), `"counter-raw":1152921504606846977`},
	} {
		if !strings.Contains(c.out, c.want) {
			t.Errorf("output lacks %q:\n%s", c.want, c.out)
		}
	}
}

func TestCSVSeparator(t *testing.T) {
	r := reportAttached()
	for _, sep := range []string{"", `"`, "\n", "a\rb"} {
		if err := r.WriteCSV(&bytes.Buffer{}, sep); !errors.Is(err, ErrBadSeparator) {
			t.Errorf("WriteCSV(sep %q) = %v, want ErrBadSeparator", sep, err)
		}
	}
	var b bytes.Buffer
	if err := r.WriteCSV(&b, "::"); err != nil {
		t.Fatal(err)
	}
	if want := "12.50::msec::task-clock::10000000000::100.00::0.001::CPUs utilized\n"; !strings.HasPrefix(b.String(), want) {
		t.Errorf("multi-character separator: got\n%s\nwant first line %q", b.String(), want)
	}
}

func TestCSVQuote(t *testing.T) {
	for _, tc := range []struct{ in, sep, want string }{
		{"cycles", ",", "cycles"},
		{"cpu/event=1,umask=2/", ",", `"cpu/event=1,umask=2/"`},
		{"cpu/event=1,umask=2/", ";", "cpu/event=1,umask=2/"},
		{`a"b`, ";", `"a""b"`},
	} {
		if got := csvQuote(tc.in, tc.sep); got != tc.want {
			t.Errorf("csvQuote(%q, %q) = %q, want %q", tc.in, tc.sep, got, tc.want)
		}
	}
}

// TestJSONLines checks that every line WriteJSON produces is a JSON object
// with perf's keys and types, and that the summary closes the output.
func TestJSONLines(t *testing.T) {
	for _, f := range fixtures {
		r := f.report()
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != len(r.Rows)+1 {
			t.Fatalf("%s: %d lines for %d rows, want rows+1", f.name, len(lines), len(r.Rows))
		}
		for i, l := range lines[:len(r.Rows)] {
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				t.Fatalf("%s line %d: %v: %s", f.name, i, err, l)
			}
			for key, kind := range map[string]string{
				"counter-value": "string", "unit": "string", "event": "string",
				"event-runtime": "number", "pcnt-running": "number",
				"metric-value": "number", "metric-unit": "string",
			} {
				v, ok := obj[key]
				if !ok {
					t.Errorf("%s line %d: no %q: %s", f.name, i, key, l)
					continue
				}
				if _, isNum := v.(float64); (kind == "number") != isNum {
					t.Errorf("%s line %d: %q is %T, want a %s", f.name, i, key, v, kind)
				}
			}
			if got, want := obj["event"], r.Rows[i].Name(); got != want {
				t.Errorf("%s line %d: event %v, want %q", f.name, i, got, want)
			}
		}
		var sum map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
			t.Fatalf("%s summary: %v", f.name, err)
		}
		if _, ok := sum["event"]; ok {
			t.Errorf("%s summary has an event key: %v", f.name, sum)
		}
		if _, ok := sum["elapsed-seconds"]; !ok {
			t.Errorf("%s summary has no elapsed-seconds: %v", f.name, sum)
		}
	}
}

// TestTableNoTrailingBlanks guards the post-processing of tablewriter's
// padded lines.
func TestTableNoTrailingBlanks(t *testing.T) {
	for _, f := range fixtures {
		var b bytes.Buffer
		if err := f.report().WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(b.String(), "\n") {
			if strings.TrimRight(l, " ") != l {
				t.Errorf("%s line %d has trailing blanks: %q", f.name, i, l)
			}
		}
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteErrors(t *testing.T) {
	r := reportDefault()
	werr := errors.New("disk full")
	for name, write := range map[string]func() error{
		"table": func() error { return r.WriteTable(failWriter{werr}) },
		"csv":   func() error { return r.WriteCSV(failWriter{werr}, ",") },
		"json":  func() error { return r.WriteJSON(failWriter{werr}) },
	} {
		if err := write(); !errors.Is(err, werr) {
			t.Errorf("%s: err = %v, want the writer's error", name, err)
		}
	}
}

// TestRolesOfCatalogEvents checks that the events the pmu catalog
// resolves get the metric roles perf gives them, whatever name or alias
// they were written with.
func TestRolesOfCatalogEvents(t *testing.T) {
	for spec, want := range map[string]role{
		"task-clock":              roleTaskClock,
		"cpu-clock":               roleCPUClock,
		"cycles":                  roleCycles,
		"cpu-cycles:u":            roleCycles,
		"instructions":            roleInstructions,
		"cache-references":        roleCacheRefs,
		"cache-misses":            roleCacheMisses,
		"branches":                roleBranches,
		"branch-instructions":     roleBranches,
		"branch-misses":           roleBranchMisses,
		"stalled-cycles-frontend": roleStalledFrontend,
		"idle-cycles-backend":     roleStalledBackend,
		"L1-dcache-loads":         roleCacheAccess,
		"L1-dcache-load-misses":   roleCacheMiss,
		"page-faults":             roleOther,
		"syscalls":                roleOther,
	} {
		s, err := pmu.ParseSpec(spec, nil)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", spec, err)
			continue
		}
		if got := roleOf(s.Events()[0]); got != want {
			t.Errorf("roleOf(%q) = %d, want %d", spec, got, want)
		}
	}
}
