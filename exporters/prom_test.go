package exporters

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/vpmu/vpmu/pmu"
)

// newTestCollector returns a collector of the targets with a clock that
// makes every read take 1 ms.
func newTestCollector(t testing.TB, targets ...PromTarget) *PromCollector {
	t.Helper()
	c, err := NewPromCollector(PromOptions{Now: tickClock()}, targets...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exposition gathers c in a pedantic registry and returns the text
// exposition of every family.
func exposition(t testing.TB, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// scrape collects once and discards the metrics.
func scrape(t testing.TB, c prometheus.Collector) {
	t.Helper()
	testutil.CollectAndCount(c)
}

// TestPromGolden compares the exposition after two scrapes of a VM-shaped
// target (running, multiplexed, starved-then-running, starved,
// not-supported and idle counters) and of a process whose thread exited.
// Scraping again at the same readings must not change anything, so
// CollectAndCompare's own scrape sees the same values.
func TestPromGolden(t *testing.T) {
	c := newTestCollector(t, vmTarget(), processTarget())
	scrape(t, c)
	path := filepath.Join("testdata", "prom_collect.golden")
	if *update {
		if err := os.WriteFile(path, exposition(t, c), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(c, want); err != nil {
		t.Errorf("%v\n(go test -update rewrites %s)", err, path)
	}
}

func TestPromLint(t *testing.T) {
	c := newTestCollector(t, vmTarget(), processTarget(), &fakeTarget{
		info:  PromTargetInfo{Kind: "system"},
		reads: [][]Row{{reading(evCtxSwitches, []Label{CPULabel(0)}, 10, 1, 1)}},
		errs:  map[int]error{1: errors.New("gone")},
	})
	for i := 0; i < 3; i++ {
		problems, err := testutil.CollectAndLint(c)
		if err != nil && i != 1 {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("scrape %d: lint: %s: %s", i, p.Metric, p.Text)
		}
	}
	problems, err := testutil.CollectAndLint(NewPromBuildInfoCollector())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("build info: lint: %s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(NewPromBuildInfoCollector(), promBuildInfo); n != 1 {
		t.Errorf("%d build info metrics, want 1", n)
	}
}

// TestPromTargetError checks that a target that cannot be read fails
// alone: the registry reports its error, the other target's metrics are
// still gathered, and the failed target's counters are down with
// reason read_error and its error counter grows.
func TestPromTargetError(t *testing.T) {
	bad := &fakeTarget{
		info:  PromTargetInfo{Kind: "process", Labels: []Label{{"pid", "7"}}},
		reads: [][]Row{{reading(evTaskClock, nil, 5, 5, 5)}},
		errs:  map[int]error{1: errors.New("counter fd closed under us"), 2: errors.New("still broken")},
	}
	c := newTestCollector(t, vmTarget(), bad)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("first scrape: %v", err)
	}
	for scrapeN := 2; scrapeN <= 3; scrapeN++ {
		mfs, err := reg.Gather()
		if err == nil || !strings.Contains(err.Error(), `process{pid="7"}`) {
			t.Fatalf("scrape %d: error %v, want one naming the failed target", scrapeN, err)
		}
		got := map[string][]string{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+l.GetValue())
				}
				got[mf.GetName()] = append(got[mf.GetName()], strings.Join(ls, ",")+" "+valueText(m.GetCounter().GetValue()+m.GetGauge().GetValue()))
			}
		}
		if !contains(got[promEvents], "event=task-clock,target=vm,vcpu=0,vm=demo 2e+07") {
			t.Errorf("scrape %d: the healthy target's task-clock is missing: %q", scrapeN, got[promEvents])
		}
		if !contains(got[promUp], "event=task-clock,pid=7,reason=read_error,target=process 0") {
			t.Errorf("scrape %d: no read_error for the failed target: %q", scrapeN, got[promUp])
		}
		if want := "pid=7,target=process " + valueText(float64(scrapeN-1)); !contains(got[promErrors], want) {
			t.Errorf("scrape %d: errors %q, want %q", scrapeN, got[promErrors], want)
		}
		for _, s := range got[promEvents] {
			if strings.Contains(s, "pid=7") {
				t.Errorf("scrape %d: a count of the failed target: %s", scrapeN, s)
			}
		}
	}

	// Readable again (at the same reading, so nothing ran meanwhile):
	// up again, and the error count stays.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("scrape 4: %v", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got := strings.Join(ls, ",") + " " + valueText(m.GetCounter().GetValue()+m.GetGauge().GetValue())
			switch mf.GetName() {
			case promUp:
				if strings.Contains(got, "pid=7") && got != "event=task-clock,pid=7,target=process 1" {
					t.Errorf("scrape 4: %s %s, want it up again", mf.GetName(), got)
				}
			case promErrors:
				if strings.Contains(got, "pid=7") && got != "pid=7,target=process 2" {
					t.Errorf("scrape 4: %s %s, want 2 errors", mf.GetName(), got)
				}
			}
		}
	}

	// Served with ContinueOnError, the scrape succeeds without it.
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `vpmu_events_total{event="task-clock",target="vm",vcpu="0",vm="demo"}`) {
		t.Errorf("HTTP scrape: status %d, body:\n%s", rec.Code, rec.Body)
	}
}

func valueText(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPromConcurrentCollect scrapes from several goroutines at once: the
// collector must never read one target from two goroutines, and (under
// -race) must not race on its state.
func TestPromConcurrentCollect(t *testing.T) {
	ft := vmTarget()
	ft.delay = 200 * time.Microsecond
	pt := processTarget()
	c := newTestCollector(t, ft, pt)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Targets come and go while scrapes run.
	extra := &fakeTarget{info: PromTargetInfo{Kind: "system"}, reads: [][]Row{{reading(evCtxSwitches, []Label{CPULabel(1)}, 1, 1, 1)}}}
	var readsAfterRemove int
	for i := 0; i < 10; i++ {
		if err := c.Add(extra); err != nil {
			t.Fatal(err)
		}
		if !c.Remove(extra) {
			t.Fatal("Remove did not find the target just added")
		}
		extra.mu.Lock()
		readsAfterRemove = extra.n
		extra.mu.Unlock()
	}
	wg.Wait()
	if extra.n != readsAfterRemove {
		t.Errorf("the target was read %d times after Remove returned", extra.n-readsAfterRemove)
	}
	if c.Remove(extra) {
		t.Error("Remove found a target removed before")
	}
	if ft.overlap.Load() || pt.overlap.Load() {
		t.Error("a target was read by two scrapes at once")
	}
	// The state converged to the last reading.
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP vpmu_events_total `+helpEvents+`
# TYPE vpmu_events_total counter
vpmu_events_total{event="cycles",target="vm",vcpu="0",vm="demo"} 2000
vpmu_events_total{event="instructions",target="vm",vcpu="0",vm="demo"} 3000
vpmu_events_total{event="task-clock",target="vm",vcpu="0",vm="demo"} 2e+07
vpmu_events_total{event="task-clock",target="vm",vcpu="1",vm="demo"} 0
vpmu_events_total{comm="worker",event="page-faults",pid="4242",target="process",tid="4242"} 150
`), promEvents); err != nil {
		t.Error(err)
	}
}

func TestPromAddErrors(t *testing.T) {
	ok := &fakeTarget{info: PromTargetInfo{Kind: "process", Labels: []Label{{"pid", "1"}}}, reads: [][]Row{nil}}
	for _, tc := range []struct {
		name string
		info PromTargetInfo
		want string
	}{
		{"duplicate", PromTargetInfo{Kind: "process", Labels: []Label{{"pid", "1"}}}, "same identity"},
		{"reserved", PromTargetInfo{Kind: "vm", Labels: []Label{{"event", "x"}}}, "reserved"},
		{"bad name", PromTargetInfo{Kind: "vm", Labels: []Label{{"vm-name", "x"}}}, "not a valid Prometheus label name"},
		{"dunder", PromTargetInfo{Kind: "vm", Labels: []Label{{"__name__", "x"}}}, "not a valid Prometheus label name"},
		{"twice", PromTargetInfo{Kind: "vm", Labels: []Label{{"vm", "a"}, {"vm", "b"}}}, "given twice"},
		{"empty kind", PromTargetInfo{}, "kind"},
		{"bad utf8", PromTargetInfo{Kind: "vm", Labels: []Label{{"vm", "\xff"}}}, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPromCollector(PromOptions{}, ok, &fakeTarget{info: tc.info})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestPromBadRowLabels checks that a row whose labels clash with the
// target's is refused on its own, as an invalid metric.
func TestPromBadRowLabels(t *testing.T) {
	ft := &fakeTarget{
		info: PromTargetInfo{Kind: "vm", Labels: []Label{{"vm", "a"}}},
		reads: [][]Row{{
			reading(evTaskClock, []Label{{"vm", "b"}}, 1, 1, 1),
			reading(evTaskClock, []Label{{"reason", "x"}}, 1, 1, 1),
			reading(evTaskClock, []Label{{"comm", "\xfe"}}, 1, 1, 1),
			reading(evPageFaults, []Label{VCPULabel(0)}, 3, 1, 1),
		}},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newTestCollector(t, ft))
	mfs, err := reg.Gather()
	if err == nil {
		t.Fatal("no error for the clashing row labels")
	}
	for _, want := range []string{`label "vm" is already set`, `label "reason" is reserved`, "not valid UTF-8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	var n int
	for _, mf := range mfs {
		if mf.GetName() == promEvents {
			n = len(mf.GetMetric())
		}
	}
	if n != 1 {
		t.Errorf("%d vpmu_events_total series, want the one good row", n)
	}
}

// TestPromObserve follows the estimate and health of one counter over a
// sequence of cumulative readings.
func TestPromObserve(t *testing.T) {
	type step struct {
		raw           uint64
		enabled, run  int // ms
		wantEst       float64
		wantKnown     bool
		wantUp        bool
		wantReasonStr string
	}
	for _, tc := range []struct {
		name  string
		scale float64
		steps []step
	}{
		{"never multiplexed equals raw", 0, []step{
			{100, 10, 10, 100, true, true, ""},
			{250, 20, 20, 250, true, true, ""},
		}},
		{"multiplexed per interval", 0, []step{
			{100, 10, 5, 200, true, true, ""},
			{400, 20, 15, 500, true, true, ""}, // 300 in 10 of 10 ms
			{450, 40, 20, 700, true, true, ""}, // 50 in 5 of 20 ms
		}},
		{"starved then runs", 0, []step{
			{0, 10, 0, 0, false, false, ReasonStarved},
			{0, 20, 0, 0, false, false, ReasonStarved},
			{100, 30, 5, 600, true, true, ""}, // 100 in 5 of 30 ms
		}},
		{"idle keeps the last health", 0, []step{
			{0, 0, 0, 0, true, true, ""},
			{0, 10, 0, 0, false, false, ReasonStarved},
			{0, 10, 0, 0, false, false, ReasonStarved},
			{10, 20, 10, 20, true, true, ""},
			{10, 20, 10, 20, true, true, ""},
		}},
		{"reopened counter starts over", 0, []step{
			{1000, 10, 10, 1000, true, true, ""},
			{100, 1, 1, 1100, true, true, ""},
			{300, 2, 2, 1300, true, true, ""},
		}},
		{"sysfs scale", 0.5, []step{
			{100, 10, 10, 50, true, true, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := &promRow{up: true}
			e := evEnergy
			e.Scale = tc.scale
			for i, s := range tc.steps {
				pr.observe(pmu.Value{Event: e, Raw: s.raw, Enabled: time.Duration(s.enabled) * time.Millisecond, Running: time.Duration(s.run) * time.Millisecond})
				est, known := pr.estimated()
				if known != s.wantKnown || known && est != s.wantEst || pr.up != s.wantUp || pr.reason != s.wantReasonStr {
					t.Errorf("step %d: estimate %v (known %v), up %v %q; want %v (%v), %v %q", i, est, known, pr.up, pr.reason, s.wantEst, s.wantKnown, s.wantUp, s.wantReasonStr)
				}
			}
		})
	}
}

func TestPromTargetInfoString(t *testing.T) {
	got := PromTargetInfo{Kind: "vm", Labels: []Label{{"vm", "a b"}, {"host", "x"}}}.String()
	if want := `vm{vm="a b",host="x"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
