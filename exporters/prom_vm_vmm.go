package exporters

import (
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpmu/vpmu/hypervisor"
)

// Metric names of the VMM's own counts. docs/metrics.md is the reference
// for each.
const (
	promVMExits          = "vpmu_vm_exits_total"
	promVMDenials        = "vpmu_vm_sandbox_denials_total"
	promVMFirstDenial    = "vpmu_vm_sandbox_first_denial_info"
	promVMEntryCost      = "vpmu_vm_entry_cost_seconds"
	promVMExitCost       = "vpmu_vm_exit_cost_seconds"
	promVMTSCHertz       = "vpmu_vm_tsc_frequency_hertz"
	promVMInfo           = "vpmu_vm_info"
	promVMCalibWarning   = "vpmu_vm_calibration_warning_info"
	promVMThreads        = "vpmu_vm_threads"
	promVMThreadsCreated = "vpmu_vm_threads_created_total"
	promVMMemCommitted   = "vpmu_vm_memory_committed_bytes"
	promVMMemLimit       = "vpmu_vm_memory_limit_bytes"
	promVMUnimplemented  = "vpmu_vm_unimplemented_syscall_info"
	promVMUnknownSyscall = "vpmu_vm_unknown_syscalls_total"
)

const (
	helpVMExits = "Returns from KVM_RUN on the VCPU, by reason: io (port I/O, the way every guest system call exits), exception (guest faults and " +
		"single-step traps), interrupt (KVM_RUN interrupted by a signal to the VCPU thread: scheduler kicks), mmio, other (HLT, shutdown, failed entries)."
	helpVMDenials     = "Operations the sandbox refused, by kind: write (outside the directories granted with --rw), network, device, memory (beyond --mem)."
	helpVMFirstDenial = "The first refusal of each kind the sandbox made, described in the message label (a path or a call)."
	helpVMEntryCost   = "Cost of entering guest mode, calibrated at VM start over round trips of a stub: min, median, p90, p99, max, and mean (the top 1% left out). " +
		"Guest time leaves the mean out of every run."
	helpVMExitCost  = "Cost of leaving guest mode, calibrated at VM start like vpmu_vm_entry_cost_seconds."
	helpVMTSCHertz  = "Rate of the guest TSC, the clock behind task-clock, cpu-clock and ref-cycles in the VM."
	helpVMInfo      = "The VM: the KVM host's kind (vmx, svm, pvm) and where the TSC rate came from."
	helpVMCalibWarn = "Present when the calibration's readings were inconsistent, with the warning in the message label: guest time is then less accurate."
	helpVMThreads   = "Threads the guest program has now: 0 before it starts and after it ended."
	helpVMCreated   = "Threads the guest program ever had, its first thread included."
	helpVMCommitted = "Bytes of the guest program's accessible mappings: what --mem caps."
	helpVMMemLimit  = "The cap on vpmu_vm_memory_committed_bytes (--mem)."
	helpVMUnimpl    = "A system call the guest made that the VMM does not implement (it returned ENOSYS), named in the syscall label."
	helpVMUnknown   = "System calls the guest made with a number no x86-64 Linux system call has (they returned ENOSYS), whatever the number."
)

// Values of the reason label of vpmu_vm_exits_total.
var vmExitReasons = [...]string{"io", "mmio", "exception", "interrupt", "other"}

// Values of the stat label of the calibration costs.
var vmCostStats = [...]string{"min", "median", "p90", "p99", "max", "mean"}

// vmmCollector collects the VMM's own counts of one VM. It is a checked
// collector: Describe sends every descriptor. Collect is safe for
// concurrent use.
type vmmCollector struct {
	src vmSource

	exits, denials, firstDenial, threads, created, committed, limit, unimpl, unknown *prometheus.Desc
	// fixed are the metrics that do not change after hypervisor.New: the
	// calibration and the VM's info.
	fixed      []prometheus.Metric
	fixedDescs []*prometheus.Desc

	mu sync.Mutex // guards other
	// other is, per VCPU, the highest count of exits of no listed kind
	// reported so far (see collectExits).
	other []uint64
}

// VMMCollector returns a collector of what the VMM counts about the VM
// besides its events: exits per VCPU by reason, sandbox refusals,
// threads, memory, unimplemented and unknown system calls, and the
// calibration of guest time. Every metric is labeled target="vm" and vm.
// Its series are bounded whatever the guest does: unknown system-call
// numbers are one counter, not a series each. Register it next to the
// PromCollector that reads t, once per registry.
func (t *VMTarget) VMMCollector() prometheus.Collector {
	cl := prometheus.Labels{promLabelTarget: "vm", LabelVM: t.opts.Name}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, cl)
	}
	c := &vmmCollector{
		src:         t.src,
		exits:       d(promVMExits, helpVMExits, LabelVCPU, "reason"),
		denials:     d(promVMDenials, helpVMDenials, "kind"),
		firstDenial: d(promVMFirstDenial, helpVMFirstDenial, "kind", promLabelMessage),
		threads:     d(promVMThreads, helpVMThreads),
		created:     d(promVMThreadsCreated, helpVMCreated),
		committed:   d(promVMMemCommitted, helpVMCommitted),
		limit:       d(promVMMemLimit, helpVMMemLimit),
		unimpl:      d(promVMUnimplemented, helpVMUnimpl, "syscall"),
		unknown:     d(promVMUnknownSyscall, helpVMUnknown),
	}
	cal := t.src.Calibration()
	entry, exit := d(promVMEntryCost, helpVMEntryCost, "stat"), d(promVMExitCost, helpVMExitCost, "stat")
	hz, info := d(promVMTSCHertz, helpVMTSCHertz), d(promVMInfo, helpVMInfo, "host", "tsc_source")
	warn := d(promVMCalibWarning, helpVMCalibWarn, promLabelMessage)
	c.fixedDescs = []*prometheus.Desc{entry, exit, hz, info, warn}
	for _, s := range []struct {
		desc *prometheus.Desc
		cs   hypervisor.CostStats
		mean uint64
	}{{entry, cal.Entry, cal.EntryTicks}, {exit, cal.Exit, cal.ExitTicks}} {
		for i, ticks := range [...]uint64{s.cs.Min, s.cs.Median, s.cs.P90, s.cs.P99, s.cs.Max, s.mean} {
			c.fixed = append(c.fixed, constMetric(s.desc, prometheus.GaugeValue, cal.Nanos(ticks).Seconds(), vmCostStats[i]))
		}
	}
	c.fixed = append(c.fixed,
		constMetric(hz, prometheus.GaugeValue, float64(cal.TSCKHz)*1000),
		constMetric(info, prometheus.GaugeValue, 1, validUTF8(t.src.HostKind()), validUTF8(cal.TSCKHzSource)))
	if cal.Warning != "" {
		c.fixed = append(c.fixed, constMetric(warn, prometheus.GaugeValue, 1, validUTF8(cal.Warning)))
	}
	return c
}

// Describe sends every descriptor of the collector.
func (c *vmmCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.exits, c.denials, c.firstDenial, c.threads, c.created, c.committed, c.limit, c.unimpl, c.unknown} {
		ch <- d
	}
	for _, d := range c.fixedDescs {
		ch <- d
	}
}

// Collect reads the VMM's counts and sends them.
func (c *vmmCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.fixed {
		ch <- m
	}
	live, created := c.src.Threads()
	sendConst(ch, c.threads, prometheus.GaugeValue, float64(live))
	sendConst(ch, c.created, prometheus.CounterValue, float64(created))
	c.collectExits(ch)

	st := c.src.Stats()
	counts := map[string]int{hypervisor.DenyWrite: 0, hypervisor.DenyNetwork: 0, hypervisor.DenyDevice: 0, hypervisor.DenyMemory: 0}
	for _, d := range st.Denials {
		counts[validUTF8(d.Kind)] = d.Count
		sendConst(ch, c.firstDenial, prometheus.GaugeValue, 1, validUTF8(d.Kind), validUTF8(d.First))
	}
	for kind, n := range counts {
		sendConst(ch, c.denials, prometheus.CounterValue, float64(n), kind)
	}
	sendConst(ch, c.committed, prometheus.GaugeValue, float64(st.Memory.Committed))
	if st.Memory.Limit > 0 {
		sendConst(ch, c.limit, prometheus.GaugeValue, float64(st.Memory.Limit))
	}
	for _, name := range st.Unimplemented {
		sendConst(ch, c.unimpl, prometheus.GaugeValue, 1, validUTF8(name))
	}
	sendConst(ch, c.unknown, prometheus.CounterValue, float64(st.UnknownSyscalls))
}

// collectExits sends every VCPU's exits by reason. The kinds are read
// after the total, one by one while the VCPU runs, so total minus the
// kinds is at most the true count of other exits; the highest such
// value so far is reported, which keeps "other" from going backwards.
func (c *vmmCollector) collectExits(ch chan<- prometheus.Metric) {
	exits := c.src.VCPUExits()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.other) < len(exits) {
		c.other = append(c.other, 0)
	}
	for i, e := range exits {
		known := e.IO + e.MMIO + e.Exception + e.Interrupt
		if e.Total > known {
			c.other[i] = max(c.other[i], e.Total-known)
		}
		vcpu := strconv.Itoa(e.VCPU)
		for k, n := range [...]uint64{e.IO, e.MMIO, e.Exception, e.Interrupt, c.other[i]} {
			sendConst(ch, c.exits, prometheus.CounterValue, float64(n), vcpu, vmExitReasons[k])
		}
	}
}

// constMetric returns a const metric, or an invalid metric saying why it
// could not be made (the registry then reports the error instead of the
// collector panicking).
func constMetric(desc *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, typ, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}

// sendConst sends a const metric (see constMetric).
func sendConst(ch chan<- prometheus.Metric, desc *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
	ch <- constMetric(desc, typ, v, labels...)
}

// validUTF8 replaces invalid UTF-8 in text the VMM took from the guest
// (paths), which label values must not contain.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
