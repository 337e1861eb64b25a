package exporters_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/pmu"
)

// vcpuTarget is a PromTarget the way a hypervisor would write one: its
// identity is the VM, and it returns one row per VCPU and event.
type vcpuTarget struct {
	vm    string
	reads int
}

func (t *vcpuTarget) Info() exporters.PromTargetInfo {
	return exporters.PromTargetInfo{Kind: "vm", Labels: []exporters.Label{{Name: "vm", Value: t.vm}}}
}

func (t *vcpuTarget) Read(context.Context) ([]exporters.Row, error) {
	t.reads++
	syscalls := pmu.Event{Name: "syscalls", Kind: pmu.KindVirtual, Config: uint64(pmu.VirtSyscalls)}
	run := time.Duration(t.reads) * time.Second
	var rows []exporters.Row
	for vcpu := 0; vcpu < 2; vcpu++ {
		rows = append(rows, exporters.Row{
			Labels: []exporters.Label{exporters.VCPULabel(vcpu)},
			Value:  pmu.Value{Event: syscalls, Raw: uint64(1000 * (vcpu + 1) * t.reads), Enabled: run, Running: run},
		})
	}
	return rows, nil
}

// A PromCollector reads its targets on every scrape. Register it in a
// registry of your own, with a build-info collector, and serve that
// registry with promhttp.HandlerFor and ErrorHandling ContinueOnError.
func ExamplePromCollector() {
	c, err := exporters.NewPromCollector(exporters.PromOptions{}, &vcpuTarget{vm: "web"})
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, exporters.NewPromBuildInfoCollector())

	reg.Gather() // a first scrape
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range mfs {
		if mf.GetName() == "vpmu_events_total" || mf.GetName() == "vpmu_event_up" {
			var b strings.Builder
			expfmt.MetricFamilyToText(&b, mf)
			for _, line := range strings.Split(b.String(), "\n") {
				if !strings.HasPrefix(line, "#") && line != "" {
					fmt.Fprintln(os.Stdout, line)
				}
			}
		}
	}
	// Output:
	// vpmu_event_up{event="syscalls",target="vm",vcpu="0",vm="web"} 1
	// vpmu_event_up{event="syscalls",target="vm",vcpu="1",vm="web"} 1
	// vpmu_events_total{event="syscalls",target="vm",vcpu="0",vm="web"} 2000
	// vpmu_events_total{event="syscalls",target="vm",vcpu="1",vm="web"} 4000
}
