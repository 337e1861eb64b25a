package pmu

import (
	"bufio"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// perfAttrs runs `perf stat -vv -e spec true` and returns the
// perf_event_attr fields perf printed for each event it opened, in order.
// ok is false when perf retried an open with other attributes (a fallback),
// which makes the printed attributes not the parsed ones.
func perfAttrs(t *testing.T, perf, spec string) (attrs []map[string]uint64, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, perf, "stat", "-vv", "-e", spec, "true").CombinedOutput()
	if err != nil {
		t.Fatalf("perf stat -e %q: %v\n%s", spec, err, out)
	}
	var cur map[string]uint64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "perf_event_attr:"):
			cur = map[string]uint64{}
		case strings.HasPrefix(line, "sys_perf_event_open"):
			if strings.Contains(line, "failed") {
				return nil, false
			}
			if cur != nil {
				attrs = append(attrs, cur)
				cur = nil
			}
		case cur != nil && strings.HasPrefix(line, "  "):
			f := strings.Fields(line)
			if len(f) == 2 {
				if v, err := strconv.ParseUint(f[1], 0, 64); err == nil {
					cur[f[0]] = v
				}
			}
		}
	}
	return attrs, true
}

// TestModifiersMatchPerf checks modifier semantics against the perf tool
// installed on the machine, with software events that open anywhere. It
// compares every exclude bit and precise_ip; exclude_guest only where a G
// or H letter decides it, because perf also sets it as a default policy
// (see ParseSpec).
func TestModifiersMatchPerf(t *testing.T) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		t.Skip("skipping: no perf tool in PATH")
	}
	specs := []string{
		"task-clock", "task-clock:u", "task-clock:k", "task-clock:h", "task-clock:uk", "task-clock:kh",
		"task-clock:ukh", "task-clock:G", "task-clock:H", "task-clock:GH", "task-clock:uG", "task-clock:kH",
		"task-clock:I", "task-clock:p", "task-clock:D", "task-clock:uI",
		"{task-clock,cs}:k", "{task-clock:u,cs}:k", "{task-clock:ukh,cs}:u", "{task-clock:k,cs}:h",
		"{task-clock:G,cs}:u", "{task-clock,cs}:G", "{task-clock:G,cs}:H", "{task-clock:u,cs:k}",
		"{cs,task-clock:u}:k", "{task-clock:I,cs}:I", "{task-clock:p,cs}:p", "{task-clock:D,cs}",
	}
	compared := 0
	for _, spec := range specs {
		s, err := ParseSpec(spec, nil)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", spec, err)
			continue
		}
		attrs, ok := perfAttrs(t, perf, spec)
		if !ok {
			t.Logf("perf fell back to other attributes for %q; not compared", spec)
			continue
		}
		if len(attrs) == 0 && compared == 0 {
			t.Skipf("skipping: perf printed no perf_event_attr for %q (perf too old or too new?)", spec)
		}
		evs := s.Events()
		if len(attrs) != len(evs) {
			t.Errorf("%q: perf opened %d events, ParseSpec has %d", spec, len(attrs), len(evs))
			continue
		}
		for i, e := range evs {
			a := attrs[i]
			check := func(field string, got bool) {
				if want := a[field] != 0; got != want {
					t.Errorf("%q event %d (%s): %s = %v, perf says %v", spec, i, e, field, got, want)
				}
			}
			check("exclude_user", e.Exclude&ExcludeUser != 0)
			check("exclude_kernel", e.Exclude&ExcludeKernel != 0)
			check("exclude_hv", e.Exclude&ExcludeHV != 0)
			check("exclude_host", e.Exclude&ExcludeHost != 0)
			check("exclude_idle", e.Exclude&ExcludeIdle != 0)
			if strings.ContainsAny(e.Modifiers, "GH") {
				check("exclude_guest", e.Exclude&ExcludeGuest != 0)
			}
			if uint64(e.Precise) != a["precise_ip"] {
				t.Errorf("%q event %d: precise %d, perf says %d", spec, i, e.Precise, a["precise_ip"])
			}
			if i == 0 { // perf pins only the group leader
				check("pinned", e.Pinned)
			}
		}
		compared++
	}
	t.Logf("compared %d of %d specs with %s", compared, len(specs), perf)
}
