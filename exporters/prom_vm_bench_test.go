package exporters

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// vmBenchSpecs are the specs of the VM scrape benchmarks: the 4 software
// events of BenchmarkPromCollectProcess100Threads, and what vpmu run
// --metrics counts by default (two of which are not supported without a
// host PMU).
var vmBenchSpecs = []struct{ name, spec string }{
	{"events=4", "task-clock,context-switches,page-faults,cpu-migrations"},
	{"events=default", "task-clock,context-switches,cpu-migrations,page-faults,syscalls,vm-exits,instructions,branches"},
}

// BenchmarkPromVMCollect100Threads measures the scrape of a running VM
// whose program has 101 threads (100 blocked in a futex wait) on 2
// VCPUs, in per-thread mode: one Collect of the VM target (the virtual
// PMU's live counts of every thread, rows, state, metrics written out as
// the registry does), and the VMM collector's Collect.
func BenchmarkPromVMCollect100Threads(b *testing.B) {
	for _, bs := range vmBenchSpecs {
		b.Run(bs.name, func(b *testing.B) {
			vm, _ := blockGuest(b, bs.spec, 100)
			vt, err := NewVMTarget(vm, VMOptions{Name: "bench", PerThread: true})
			if err != nil {
				b.Fatal(err)
			}
			c := newTestCollector(b, vt)
			counted := strings.Count(bs.spec, ",") + 1
			if strings.Contains(bs.spec, "instructions") && !hardwareCounts() {
				counted -= 2
			}
			n := collectAll(b, c, make(chan prometheus.Metric, 256))
			// 1 total + 2 VCPUs + 101 threads, 6 metrics per counter
			// (ratio absent while a thread has no guest time).
			if min := 104 * counted * 5; n < min {
				b.Fatalf("%d metrics, want at least %d", n, min)
			}
			b.ReportMetric(float64(n), "metrics/op")
			b.ReportAllocs()
			for b.Loop() {
				collectAll(b, c, make(chan prometheus.Metric, 256))
			}
		})
	}
	b.Run("vmm", func(b *testing.B) {
		vm, _ := blockGuest(b, vmBenchSpecs[1].spec, 100)
		vt, err := NewVMTarget(vm, VMOptions{Name: "bench", PerThread: true})
		if err != nil {
			b.Fatal(err)
		}
		vmm := vt.VMMCollector()
		b.ReportAllocs()
		for b.Loop() {
			collectAll(b, vmm, make(chan prometheus.Metric, 256))
		}
	})
}

// BenchmarkPromVMGather100Threads is a whole scrape of the same VM as
// vpmu run --metrics serves it: a registry Gather of the VM target and
// the VMM collector (default events, per thread).
func BenchmarkPromVMGather100Threads(b *testing.B) {
	vm, _ := blockGuest(b, vmBenchSpecs[1].spec, 100)
	vt, err := NewVMTarget(vm, VMOptions{Name: "bench", PerThread: true})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newTestCollector(b, vt), vt.VMMCollector())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPromVMGather2000Exited is a whole scrape of a running VM
// whose program has created and joined 2000 threads one after another
// (a thread-per-request server in small) and now has one, on 2 VCPUs,
// configured as vpmu run --metrics configures it (VMExitedThreads,
// default events), without and with per-thread rows. It reports the
// series of a scrape and the threads the virtual PMU lists.
func BenchmarkPromVMGather2000Exited(b *testing.B) {
	for _, perThread := range []bool{false, true} {
		b.Run(fmt.Sprintf("per-thread=%v", perThread), func(b *testing.B) {
			vm, _, _ := serveGuest(b, vmBenchSpecs[1].spec, VMExitedThreads(perThread), "churn", "2000")
			vt, err := NewVMTarget(vm, VMOptions{Name: "bench", PerThread: perThread})
			if err != nil {
				b.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(newTestCollector(b, vt), vt.VMMCollector())
			b.ReportAllocs()
			var mfs []*dto.MetricFamily
			for b.Loop() {
				if mfs, err = reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
			n := 0
			for _, mf := range mfs {
				n += len(mf.GetMetric())
			}
			b.ReportMetric(float64(n), "series")
			b.ReportMetric(float64(len(vm.VPMU().Counts().Threads)), "listed-threads")
		})
	}
}
