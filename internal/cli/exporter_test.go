package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpmu/vpmu/internal/testutil"
)

func TestExporterUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // a line of stderr
	}{
		{[]string{"exporter", "-p", "1"}, `^vpmu exporter: --listen ADDR is required`},
		{[]string{"exporter", "--listen", "9417", "-p", "1"}, `^vpmu exporter: --listen "9417": want host:port or :port$`},
		{[]string{"exporter", "--listen", ":0"}, `^vpmu exporter: nothing to count: give -p PID, --cgroup PATH or --per-cpu$`},
		{[]string{"exporter", "--listen", ":0", "-p", "x"}, `^vpmu exporter: -p: bad process id "x": want a positive number$`},
		{[]string{"exporter", "--listen", ":0", "-p", "3,0"}, `^vpmu exporter: -p: bad process id "0"`},
		{[]string{"exporter", "--listen", ":0", "-p", "3", "--pid", "3"}, `^vpmu exporter: -p: process 3 given twice$`},
		{[]string{"exporter", "--listen", ":0", "--per-cpu", "--per-thread"}, `^vpmu exporter: --per-thread splits processes by thread: it needs -p PID$`},
		{[]string{"exporter", "--listen", ":0", "--per-cpu", "sleep"}, `^vpmu exporter: unexpected argument "sleep"`},
		{[]string{"exporter", "--bogus"}, `^vpmu exporter: unknown flag -bogus$`},
		{[]string{"exporter", "--listen", ":0", "--per-cpu", "-e", "task-clock,bogus"}, `^ {15}\^{5}$`},
		// The fake harness has no perf_event backend.
		{[]string{"exporter", "--listen", ":0", "--per-cpu"}, `^vpmu exporter: the exporter counts with the Linux perf_event backend, and this build has \*cli.fakeSource: not available in this build$`},
	} {
		h := newHarness(t)
		if code := h.run(tc.args...); code != exitError {
			t.Errorf("vpmu %q: exit %d, want %d", tc.args, code, exitError)
		}
		wantLines(t, h.stderr.String(), tc.want)
	}
	h := newHarness(t)
	if code := h.run("exporter", "-h"); code != 0 {
		t.Errorf("exporter -h: exit %d", code)
	}
	wantLines(t, h.stdout.String(), `^Usage: vpmu exporter --listen ADDR `, `^      --per-thread `)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// httpGet fetches url without keeping the connection open afterwards
// (TestMain fails on leaked fds).
func httpGet(url string) (*http.Response, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	return c.Get(url)
}

// runningExporter is vpmu exporter run in-process with the real backend.
type runningExporter struct {
	url    string
	stderr *syncBuffer
	sigs   chan chan<- os.Signal
	done   chan int
}

// startExporter runs vpmu exporter with args (plus --listen
// 127.0.0.1:0) and waits until it serves.
func startExporter(t *testing.T, args ...string) *runningExporter {
	t.Helper()
	e := &runningExporter{stderr: &syncBuffer{}, sigs: make(chan chan<- os.Signal, 1), done: make(chan int, 1)}
	env := DefaultEnv()
	env.Stdout, env.Stderr = io.Discard, e.stderr
	env.Notify = func(c chan<- os.Signal, _ ...os.Signal) { e.sigs <- c }
	env.StopNotify = func(chan<- os.Signal) {}
	go func() { e.done <- env.Run(append([]string{"exporter", "--listen", "127.0.0.1:0"}, args...)) }()
	serving := regexp.MustCompile(`serving (http://\S+)/metrics`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := serving.FindStringSubmatch(e.stderr.String()); m != nil {
			e.url = m[1]
			return e
		}
		select {
		case code := <-e.done:
			t.Fatalf("vpmu exporter exited with %d before serving:\n%s", code, e.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vpmu exporter did not start serving:\n%s", e.stderr)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit status.
func (e *runningExporter) stop(t *testing.T) int {
	t.Helper()
	(<-e.sigs) <- syscall.SIGTERM
	select {
	case code := <-e.done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("vpmu exporter did not stop on SIGTERM")
		return -1
	}
}

// scrape fetches /metrics and parses it as the text exposition format.
func (e *runningExporter) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := httpGet(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v\n%s", resp.Status, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return mfs
}

// sample returns the value of the metric of family name whose labels
// include want, and whether there is one.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m.GetCounter().GetValue() + m.GetGauge().GetValue(), true
	}
	return 0, false
}

// TestExporterServesBusyProcess runs the real exporter on a busy child
// and scrapes it: task-clock grows between scrapes, cycles is either
// counted or not supported (never a 0 count), the vpmu families pass the
// Prometheus linter, and SIGTERM stops the server cleanly.
func TestExporterServesBusyProcess(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	child := exec.Command("sh", "-c", "while :; do :; done")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	pid := strconv.Itoa(child.Process.Pid)

	e := startExporter(t, "-e", "task-clock,context-switches,cycles", "-p", pid)
	tc := map[string]string{"target": "process", "pid": pid, "event": "task-clock", "comm": "sh"}
	first := e.scrape(t)
	v1, ok := sample(first, "vpmu_events_total", tc)
	if !ok {
		t.Fatalf("no task-clock count for %s in the first scrape", pid)
	}
	var v2 float64
	for scrapes := 2; ; scrapes++ {
		v2, _ = sample(e.scrape(t), "vpmu_events_total", tc)
		if v2 > v1 {
			break
		}
		if scrapes == 1000 {
			t.Fatalf("task-clock did not grow over %d scrapes of a busy process: %v", scrapes, v1)
		}
		time.Sleep(time.Millisecond)
	}
	last := e.scrape(t)
	if up, ok := sample(last, "vpmu_event_up", tc); !ok || up != 1 {
		t.Errorf("task-clock up = %v (%v), want 1", up, ok)
	}
	cyc := map[string]string{"pid": pid, "event": "cycles"}
	_, counted := sample(last, "vpmu_events_total", cyc)
	cycUp, _ := sample(last, "vpmu_event_up", cyc)
	_, unsupported := sample(last, "vpmu_event_up", map[string]string{"pid": pid, "event": "cycles", "reason": "not_supported"})
	_, why := sample(last, "vpmu_event_not_supported_info", cyc)
	if counted == unsupported || unsupported && (cycUp != 0 || !why) {
		t.Errorf("cycles: counted %v, up %v, not_supported %v, info %v: want either a count or not_supported with the reason", counted, cycUp, unsupported, why)
	}
	checkFamilies(t, last, "vpmu_build_info", "vpmu_scrape_duration_seconds", "vpmu_scrape_errors_total", "go_goroutines", "process_open_fds")

	resp, err := httpGet(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	index, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(index), fmt.Sprintf("process{pid=&#34;%s&#34;}", pid)) || !strings.Contains(string(index), `href="/metrics"`) {
		t.Errorf("index page does not list the target and link /metrics:\n%s", index)
	}
	if resp, err := httpGet(e.url + "/nothing"); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /nothing: %s, want 404", resp.Status)
		}
	}

	if code := e.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, e.stderr)
	}
	wantLines(t, e.stderr.String(), `^vpmu exporter: terminated: shutting down$`)
	if resp, err := httpGet(e.url + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("still serving after SIGTERM")
	}
}

// TestExporterOpenError checks that a target that cannot be opened
// stops the exporter before it serves, naming the flag.
func TestExporterOpenError(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	env := DefaultEnv()
	env.Stderr = &stderr
	pid := strconv.Itoa(gone.Process.Pid)
	if code := env.Run([]string{"exporter", "--listen", "127.0.0.1:0", "-p", pid}); code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	wantLines(t, stderr.String(), `^vpmu exporter: -p `+pid+`: exporters: process `+pid+`: open /proc/`+pid+`/stat: no such file or directory$`)

	stderr.Reset()
	if code := env.Run([]string{"exporter", "--listen", "256.0.0.1:1", "--per-cpu", "-e", "cpu-clock"}); code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	wantLines(t, stderr.String(), `^vpmu exporter: --listen 256\.0\.0\.1:1: `)
}

// checkFamilies checks that a scrape has the families names and that
// vpmu's own families pass client_golang's lint.
func checkFamilies(t *testing.T, scrape map[string]*dto.MetricFamily, names ...string) {
	t.Helper()
	for _, name := range names {
		if scrape[name] == nil {
			t.Errorf("no %s family", name)
		}
	}
	var own []*dto.MetricFamily
	for name, mf := range scrape {
		if strings.HasPrefix(name, "vpmu_") {
			own = append(own, mf)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(own).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
