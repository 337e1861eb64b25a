package cli

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vpmu/vpmu/internal/testutil"
)

// metricsGuest compiles the VM exporter's test guest (a program without
// a C library: "tally" and "block N", see the source), skipping without
// KVM or gcc.
func metricsGuest(t *testing.T) string {
	t.Helper()
	testutil.MustHaveKVM(t)
	return testutil.BuildNoLibc(t, "../../exporters/testdata/vmguest.c", "vmguest")
}

// metricsRun is vpmu run --metrics running in-process.
type metricsRun struct {
	*runningExporter // url, stderr, the signal channel, the exit status
	stdin            *io.PipeWriter
	stdout           *bufio.Reader
}

// startMetricsRun runs vpmu run with args, its standard input and output
// on pipes, and waits until the metrics server listens.
func startMetricsRun(t *testing.T, args ...string) *metricsRun {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	r := &metricsRun{
		runningExporter: &runningExporter{stderr: &syncBuffer{}, sigs: make(chan chan<- os.Signal, 1), done: make(chan int, 1)},
		stdin:           inW,
		stdout:          bufio.NewReader(outR),
	}
	env := &Env{Stdin: inR, Stdout: outW, Stderr: r.stderr,
		// vpmu run also notifies SIGPIPE (for the program's broken
		// pipes); the test's signals go to the SIGINT channel.
		Notify: func(c chan<- os.Signal, sigs ...os.Signal) {
			if slices.Contains(sigs, os.Interrupt) {
				r.sigs <- c
			}
		},
		StopNotify: func(chan<- os.Signal) {},
	}
	go func() {
		code := env.Run(append([]string{"run"}, args...))
		outW.Close()
		r.done <- code
	}()
	t.Cleanup(func() { inW.Close() })
	r.waitStderr(t, regexp.MustCompile(`(?m)^vpmu run: serving metrics on (http://\S+)/metrics$`), func(m []string) { r.url = m[1] })
	return r
}

// waitStderr waits until stderr matches re and calls f with the match.
func (r *metricsRun) waitStderr(t *testing.T, re *regexp.Regexp, f func([]string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(r.stderr.String()); m != nil {
			f(m)
			return
		}
		select {
		case code := <-r.done:
			t.Fatalf("vpmu run exited with %d before %s:\n%s", code, re, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vpmu run never said %s:\n%s", re, r.stderr)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// expect reads a line of the guest's output.
func (r *metricsRun) expect(t *testing.T, want string) {
	t.Helper()
	line, err := r.stdout.ReadString('\n')
	if err != nil || line != want+"\n" {
		t.Fatalf("guest said %q (%v), want %q\nstderr:\n%s", line, err, want, r.stderr)
	}
}

// exactSample returns the value of the series of family name whose
// labels are exactly want.
func exactSample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			ok = ok && want[l.GetName()] == l.GetValue()
		}
		if ok {
			return m.GetCounter().GetValue() + m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestRunMetricsScrape runs a guest with 4 blocked threads under vpmu
// run --metrics and scrapes it over HTTP while it runs, around a round
// of 1000 system calls: the VM's syscalls and task-clock grow, every
// guest thread has series, the families lint clean. After the program
// ends, --metrics-linger keeps the final counts up (every counter
// exited) until SIGTERM, and then the server is gone.
func TestRunMetricsScrape(t *testing.T) {
	prog := metricsGuest(t)
	r := startMetricsRun(t, "--metrics", "127.0.0.1:0", "--per-thread", "--metrics-linger", "1h", "--vcpus", "2",
		"--vm-name", "scrape", "-e", "syscalls,task-clock", "-e", "minor-faults", prog, "block", "4")
	r.expect(t, "ready")
	total := func(event string) map[string]string {
		return map[string]string{"target": "vm", "vm": "scrape", "event": event}
	}
	first := r.scrape(t)
	if _, err := io.WriteString(r.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	r.expect(t, "ok")
	second := r.scrape(t)
	for _, ev := range []string{"syscalls", "task-clock"} {
		v1, ok1 := exactSample(first, "vpmu_events_total", total(ev))
		v2, ok2 := exactSample(second, "vpmu_events_total", total(ev))
		if !ok1 || !ok2 || !(v2 > v1) {
			t.Errorf("%s: %v (%v) then %v (%v): want it to grow", ev, v1, ok1, v2, ok2)
		}
		if ev == "syscalls" && v2-v1 < 1000 {
			t.Errorf("%v more system calls between the scrapes, want at least the guest's 1000", v2-v1)
		}
	}
	for tid := 1000; tid <= 1004; tid++ {
		th := map[string]string{"target": "vm", "vm": "scrape", "event": "syscalls", "tid": strconv.Itoa(tid), "comm": "vmguest"}
		if v, ok := exactSample(second, "vpmu_events_total", th); !ok || v < 1 {
			t.Errorf("thread %d: syscalls %v (present %v), want a count", tid, v, ok)
		}
	}
	if v, _ := exactSample(second, "vpmu_vm_threads", map[string]string{"target": "vm", "vm": "scrape"}); v != 5 {
		t.Errorf("vpmu_vm_threads %v, want 5", v)
	}
	if _, ok := exactSample(second, "vpmu_event_not_supported_info", map[string]string{"target": "vm", "vm": "scrape", "event": "minor-faults",
		"message": "the VMM handles guest page faults without telling minor from major; count page-faults"}); !ok {
		t.Error("minor-faults is not reported as not supported with its reason")
	}
	checkFamilies(t, second, "vpmu_build_info", "vpmu_scrape_duration_seconds", "vpmu_vm_exits_total", "vpmu_vm_entry_cost_seconds", "go_goroutines", "process_open_fds")

	// End of input: the guest exits, and the final counts stay up.
	r.stdin.Close()
	r.waitStderr(t, regexp.MustCompile(`the program ended; serving the final metrics on http://\S+/metrics for 1h0m0s`), func([]string) {})
	final := r.scrape(t)
	if v, _ := exactSample(final, "vpmu_vm_threads", map[string]string{"target": "vm", "vm": "scrape"}); v != 0 {
		t.Errorf("vpmu_vm_threads %v after the end, want 0", v)
	}
	v2, _ := exactSample(second, "vpmu_events_total", total("syscalls"))
	if v3, _ := exactSample(final, "vpmu_events_total", total("syscalls")); v3 <= v2 {
		t.Errorf("final syscalls %v, want more than %v (the read that saw the end and exit_group)", v3, v2)
	}
	for _, m := range final["vpmu_event_up"].GetMetric() {
		reason := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" {
				reason = l.GetValue()
			}
		}
		if reason != "exited" && reason != "not_supported" {
			t.Errorf("after the end: %v", m.GetLabel())
		}
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d, want the guest's 0:\n%s", code, r.stderr)
	}
	wantLines(t, r.stderr.String(), `^vpmu run: terminated: shutting down the metrics server$`)
	if resp, err := httpGet(r.url + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("still serving after vpmu run returned")
	}
}

// TestRunMetricsNoLinger checks that without --metrics-linger the server
// goes away with the program, and that the program's output and exit
// status pass through unchanged.
func TestRunMetricsNoLinger(t *testing.T) {
	prog := metricsGuest(t)
	r := startMetricsRun(t, "--metrics", "127.0.0.1:0", prog, "tally")
	select {
	case code := <-r.done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, r.stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("vpmu run did not end")
	}
	if resp, err := httpGet(r.url + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("still serving after vpmu run returned")
	}
	if strings.Contains(r.stderr.String(), "final metrics") {
		t.Errorf("lingered without --metrics-linger:\n%s", r.stderr)
	}
}

// TestRunMetricsPrecise checks that --precise makes instructions and
// branches countable in vpmu run --metrics: the final counts of a program
// whose whole run is known are exact (204 instructions, 101 branches),
// where without --precise, on a host without a PMU, both are served as
// not supported.
func TestRunMetricsPrecise(t *testing.T) {
	testutil.MustHaveKVM(t)
	prog := testutil.BuildNoLibc(t, "../../hypervisor/testdata/vpmu_tiny.c", "tiny")
	r := startMetricsRun(t, "--metrics", "127.0.0.1:0", "--precise", "--metrics-linger", "1h", "--vm-name", "p",
		"-e", "instructions,branches", prog)
	r.waitStderr(t, regexp.MustCompile(`the program ended; serving the final metrics`), func([]string) {})
	final := r.scrape(t)
	for ev, want := range map[string]float64{"instructions": 204, "branches": 101} {
		if v, ok := exactSample(final, "vpmu_events_total", map[string]string{"target": "vm", "vm": "p", "event": ev}); !ok || v != want {
			t.Errorf("%s: %v (present %v), want exactly %v", ev, v, ok, want)
		}
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d:\n%s", code, r.stderr)
	}
}

// TestRunMetricsListenError checks that an address vpmu run cannot
// listen on fails before the program runs.
func TestRunMetricsListenError(t *testing.T) {
	prog := metricsGuest(t)
	code, out, errs := vpmuRun(t, nil, "--metrics", "256.0.0.1:1", prog, "tally")
	if code != exitRunFailed || out != "" {
		t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, exitRunFailed)
	}
	wantLines(t, errs, `^vpmu run: --metrics 256\.0\.0\.1:1: listen tcp: `)
}

func TestRunMetricsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string // a line of stderr
	}{
		{[]string{"-e", "syscalls", "x"}, `^vpmu run: -e configures the metrics server: it needs --metrics ADDR$`},
		{[]string{"--per-thread", "x"}, `^vpmu run: --per-thread configures the metrics server: it needs --metrics ADDR$`},
		{[]string{"--precise", "x"}, `^vpmu run: --precise configures the metrics server: it needs --metrics ADDR$`},
		{[]string{"--metrics-linger", "5s", "x"}, `^vpmu run: --metrics-linger configures the metrics server`},
		{[]string{"--metrics", "9417", "x"}, `^vpmu run: --metrics "9417": want host:port or :port$`},
		{[]string{"--metrics", "", "x"}, `^vpmu run: --metrics: want an address to serve on, host:port$`},
		{[]string{"--metrics", ":0", "--metrics-linger", "-1s", "x"}, `^vpmu run: --metrics-linger -1s: want a duration of 0 or more$`},
		{[]string{"--metrics", ":0", "--metrics-linger", "soon", "x"}, `^vpmu run: invalid value "soon" for flag -metrics-linger`},
		{[]string{"--metrics", ":0", "-e", "syscalls,bogus", "x"}, `^ {13}\^{5}$`},
	} {
		code, _, errs := vpmuRun(t, nil, tc.args...)
		if code != exitRunFailed {
			t.Errorf("vpmu run %q: exit %d, want %d", tc.args, code, exitRunFailed)
		}
		wantLines(t, errs, tc.msg)
	}
	if _, out, _ := vpmuRun(t, nil, "--help"); !strings.Contains(out, "--metrics-linger DURATION") {
		t.Errorf("vpmu run --help does not document --metrics-linger:\n%s", out)
	}
	o := runMetricsOptions{}
	if got := o.vmName("/usr/bin/xz"); got != "xz" {
		t.Errorf("vm name %q, want xz", got)
	}
	o.name = "web"
	if got := o.vmName("/usr/bin/xz"); got != "web" {
		t.Errorf("vm name %q, want web", got)
	}
}
