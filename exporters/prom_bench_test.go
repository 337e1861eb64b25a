package exporters

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	vtestutil "github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// benchThread is a target shaped like one guest thread of a vpmu VM: 4
// events whose counts grow on every read.
type benchThread struct {
	tid  int
	rows []Row
}

func newBenchThread(tid int) *benchThread {
	labels := []Label{{"vcpu", strconv.Itoa(tid % 4)}}
	b := &benchThread{tid: tid}
	for _, e := range []pmu.Event{evTaskClock, evCtxSwitches, evPageFaults, evInsns} {
		b.rows = append(b.rows, Row{Labels: labels, Value: pmu.Value{Event: e}})
	}
	return b
}

func (b *benchThread) Info() PromTargetInfo {
	return PromTargetInfo{Kind: "vm", Labels: append([]Label{{"vm", "bench"}}, ThreadLabels(b.tid, "worker")...)}
}

func (b *benchThread) Read(context.Context) ([]Row, error) {
	for i := range b.rows {
		v := &b.rows[i].Value
		v.Raw += 1000
		v.Enabled += time.Millisecond
		v.Running += time.Millisecond / 2 // multiplexed: the estimate scales
	}
	return b.rows, nil
}

// benchThreads returns a collector of n thread targets.
func benchThreads(b *testing.B, n int) *PromCollector {
	ts := make([]PromTarget, n)
	for i := range ts {
		ts[i] = newBenchThread(1000 + i)
	}
	return newTestCollector(b, ts...)
}

// collectAll runs Collect and writes every metric out, as a registry
// does before encoding.
func collectAll(b *testing.B, c prometheus.Collector, ch chan prometheus.Metric) int {
	done := make(chan int)
	go func() {
		n := 0
		var m dto.Metric
		for metric := range ch {
			m.Reset()
			if err := metric.Write(&m); err != nil {
				b.Error(err)
			}
			n++
		}
		done <- n
	}()
	c.Collect(ch)
	close(ch)
	return <-done
}

// BenchmarkPromCollect100Threads measures one Collect of 100 thread
// targets of 4 events each (400 counters: 2,400 metrics, plus 200
// per-target ones), each metric written out as the registry does.
func BenchmarkPromCollect100Threads(b *testing.B) {
	c := benchThreads(b, 100)
	b.ReportAllocs()
	for b.Loop() {
		if n := collectAll(b, c, make(chan prometheus.Metric, 256)); n != 100*(4*6+2) {
			b.Fatalf("%d metrics", n)
		}
	}
}

// BenchmarkPromGather100Threads is the whole registry Gather (sorting,
// consistency checks, metric families) over the same targets.
func BenchmarkPromGather100Threads(b *testing.B) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(benchThreads(b, 100))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPromCollectProcess100Threads collects a real process of 100
// (blocked) threads in per-thread mode with 4 software events: 400
// perf groups read with read(2), plus the /proc checks for exited
// threads.
func BenchmarkPromCollectProcess100Threads(b *testing.B) {
	vtestutil.MustHavePerfEvent(b)
	h := startIdleThreads(b, 100)
	p, err := NewProcessTarget(perfevent.New(), pmu.MustParseSpec("task-clock,context-switches,page-faults,cpu-migrations"), h.cmd.Process.Pid, ProcessOptions{PerThread: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c := newTestCollector(b, p)
	want := collectAll(b, c, make(chan prometheus.Metric, 256))
	if want < 101*4*5 { // a thread that never ran has no ratio
		b.Fatalf("%d metrics for %d threads", want, len(p.threads))
	}
	b.ReportAllocs()
	for b.Loop() {
		collectAll(b, c, make(chan prometheus.Metric, 256))
	}
}
