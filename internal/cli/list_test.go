package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/pmu"
)

func TestListText(t *testing.T) {
	h := newHarness(t)
	h.src.probeErr = map[string]error{"L1-dcache-loads": errFake}
	if code := h.run("list"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	want := `
List of events (countable here unless marked; the notes at the end say why):

Hardware events:
  cpu-cycles OR cycles                               [Hardware event]  <not supported> (1)
  instructions                                       [Hardware event]  <not supported> (1)

Software events:
  task-clock                                         [Software event]
  page-faults OR faults                              [Software event]

Hardware cache events:
  L1-dcache-loads                                    [Hardware cache event]  <unknown> (2)

Kernel PMU events:
  msr/tsc/                                           [Kernel PMU event]

vpmu hypervisor events:
  syscalls                                           [vpmu hypervisor event]  <not supported> (3)

Notes:
  (1) no hardware PMU: this machine is a VM without a virtual PMU
  (2) probe failed: fake failure
  (3) counted only inside the vpmu hypervisor (use --vm)
`
	if got := h.stdout.String(); got != want {
		t.Errorf("vpmu list:\n%s\nwant:\n%s", got, want)
	}
}

func TestListFilterAndDesc(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // display names, in order
	}{
		{[]string{"hw"}, []string{"cpu-cycles OR cycles", "instructions"}},
		{[]string{"SW", "vm"}, []string{"task-clock", "page-faults OR faults", "syscalls"}},
		{[]string{"cycles"}, []string{"cpu-cycles OR cycles"}},
		{[]string{"faults"}, []string{"page-faults OR faults"}},
		{[]string{"L1-*"}, []string{"L1-dcache-loads"}},
		{[]string{"msr"}, []string{"msr/tsc/"}},
		{[]string{"msr/*"}, []string{"msr/tsc/"}},
		{[]string{"*-clock", "pmu"}, []string{"task-clock", "msr/tsc/"}},
	} {
		h := newHarness(t)
		if code := h.run(append([]string{"list"}, tc.args...)...); code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.args, code, h.stderr.String())
		}
		var got []string
		for _, l := range strings.Split(h.stdout.String(), "\n") {
			if strings.HasPrefix(l, "  ") && strings.Contains(l, "[") {
				got = append(got, strings.TrimSpace(l[:strings.Index(l, "[")]))
			}
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("list %q = %q, want %q", tc.args, got, tc.want)
		}
	}

	h := newHarness(t)
	if code := h.run("list", "--desc", "task-clock"); code != 0 {
		t.Fatal(code)
	}
	wantLines(t, h.stdout.String(), `^       per-task high-resolution timer$`)

	if code := h.run("list", "nothing-like-this"); code != 1 {
		t.Errorf("no match: exit %d, want 1", code)
	}
	wantLines(t, h.stderr.String(), `^vpmu list: no event matches "nothing-like-this"$`)
}

func TestListJSON(t *testing.T) {
	h := newHarness(t)
	if code := h.run("list", "--json"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	var got []struct {
		Name, Kind, PMU, Status, Reason, Config string
		Aliases                                 []string
		Type                                    uint32
	}
	if err := json.Unmarshal(h.stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, h.stdout.String())
	}
	if len(got) != len(h.cat.List()) {
		t.Fatalf("%d events, want %d", len(got), len(h.cat.List()))
	}
	byName := map[string]int{}
	for i, e := range got {
		byName[e.Name] = i
	}
	for _, tc := range []struct{ name, status, reason string }{
		{"cpu-cycles", "not supported", pmu.ReasonNoHardwarePMU},
		{"task-clock", "supported", ""},
		{"syscalls", "not supported", pmu.ReasonVirtualOnly},
	} {
		e := got[byName[tc.name]]
		if e.Status != tc.status || e.Reason != tc.reason {
			t.Errorf("%s: status %q reason %q, want %q %q", tc.name, e.Status, e.Reason, tc.status, tc.reason)
		}
	}
	if e := got[byName["tsc"]]; e.PMU != "msr" || e.Type != 12 || e.Kind != "Kernel PMU event" {
		t.Errorf("tsc: %+v", e)
	}
	if e := got[byName["cpu-cycles"]]; len(e.Aliases) != 1 || e.Aliases[0] != "cycles" || e.Config != "0x0" {
		t.Errorf("cpu-cycles: %+v", e)
	}
}

// TestListWithoutProber checks that a source that cannot probe leaves
// the status unknown rather than claiming support.
func TestListWithoutProber(t *testing.T) {
	h := newHarness(t)
	env := h.env()
	env.Source = struct{ pmu.Source }{h.src}
	if code := env.Run([]string{"list", "-j", "task-clock"}); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	wantLines(t, h.stdout.String(), `"status": "unknown"`, `"reason": "the counter backend cannot probe events"`)
}
