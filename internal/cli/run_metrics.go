package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
)

// vpmu run --metrics: the program's counters, per VM, VCPU and (with
// --per-thread) guest thread, and the VMM's own counts, served as
// Prometheus metrics while the program runs (docs/metrics.md).

// runMetricsOptions are vpmu run's --metrics flags.
type runMetricsOptions struct {
	addr      string
	events    stringList
	perThread bool
	precise   bool
	linger    time.Duration
	name      string
	// spec is the parsed -e flags, or vmDefaultEvents.
	spec pmu.Spec
}

func (m *runMetricsOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.addr, "metrics", "", "")
	for _, n := range []string{"e", "event"} {
		fs.Var(&m.events, n, "")
	}
	fs.BoolVar(&m.perThread, "per-thread", false, "")
	fs.BoolVar(&m.precise, "precise", false, "")
	fs.DurationVar(&m.linger, "metrics-linger", 0, "")
	fs.StringVar(&m.name, "vm-name", "", "")
}

// validate checks the --metrics flags and parses the events. A bad
// event spec is a *pmu.SpecError.
func (m *runMetricsOptions) validate(fs *flag.FlagSet) error {
	if m.addr == "" {
		var err error
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "e", "event", "per-thread", "precise", "metrics-linger", "vm-name":
				name := "-" + f.Name
				if len(f.Name) > 1 {
					name = "-" + name
				}
				if err == nil {
					err = usagef("%s configures the metrics server: it needs --metrics ADDR", name)
				}
			case "metrics":
				err = usagef("--metrics: want an address to serve on, host:port")
			}
		})
		return err
	}
	if !strings.Contains(m.addr, ":") {
		return usagef("--metrics %q: want host:port or :port", m.addr)
	}
	if m.linger < 0 {
		return usagef("--metrics-linger %v: want a duration of 0 or more", m.linger)
	}
	texts := m.events
	if len(texts) == 0 {
		texts = stringList{strings.Join(vmDefaultEvents, ",")}
	}
	for _, t := range texts {
		s, err := pmu.ParseSpec(t, nil)
		if err != nil {
			return err
		}
		m.spec.Groups = append(m.spec.Groups, s.Groups...)
	}
	return nil
}

// vmName returns the vm label: --vm-name, or the program's file name.
func (m *runMetricsOptions) vmName(argv0 string) string {
	if m.name != "" {
		return m.name
	}
	return filepath.Base(argv0)
}

// runMetrics is the metrics server of one vpmu run: listening before the
// program starts, shut down after it ended.
type runMetrics struct {
	log    *lineLogger
	srv    *http.Server
	addr   net.Addr
	served chan error
}

// metricsShutdownTimeout bounds how long scrapes in flight may take to
// finish when the server shuts down.
const metricsShutdownTimeout = 5 * time.Second

// startRunMetrics counts vm's program for Prometheus and serves the
// metrics on m.addr in a registry of their own. It returns once the
// server listens, having said where on env.Stderr.
func startRunMetrics(env *Env, m *runMetricsOptions, vm *hypervisor.VM, argv0 string) (*runMetrics, error) {
	target, err := exporters.NewVMTarget(vm, exporters.VMOptions{Name: m.vmName(argv0), PerThread: m.perThread})
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	coll, err := exporters.NewPromCollector(exporters.PromOptions{}, target)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		coll,
		target.VMMCollector(),
		exporters.NewPromBuildInfoCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	log := &lineLogger{w: env.Stderr, prefix: "vpmu run: "}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      log,
		Registry:      reg,
	})))
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", m.addr, err)
	}
	r := &runMetrics{log: log, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr(), served: make(chan error, 1)}
	for _, n := range vmNotSupportedNotes(vm.VPMU().TotalCounts()) {
		log.Println(n)
	}
	log.Println(fmt.Sprintf("serving metrics on http://%s/metrics", ln.Addr()))
	go func() { r.served <- r.srv.Serve(ln) }()
	return r, nil
}

// vmNotSupportedNotes groups the events the VM cannot count by reason.
func vmNotSupportedNotes(c hypervisor.VPMUCounts) []string {
	byReason := map[string][]string{}
	for i, err := range c.Errs {
		if err != nil {
			var ns *pmu.NotSupportedError
			reason := err.Error()
			if errors.As(err, &ns) {
				reason = ns.Reason
			}
			byReason[reason] = append(byReason[reason], c.Events[i].String())
		}
	}
	notes := make([]string, 0, len(byReason))
	for reason, evs := range byReason {
		notes = append(notes, fmt.Sprintf("%s: not supported in the VM: %s", strings.Join(evs, ", "), reason))
	}
	sort.Strings(notes)
	return notes
}

// stop keeps serving for linger (unless a signal arrives on sigs first),
// then shuts the server down, letting scrapes in flight finish.
func (r *runMetrics) stop(linger time.Duration, sigs <-chan os.Signal) error {
	if linger > 0 {
		r.log.Println(fmt.Sprintf("the program ended; serving the final metrics on http://%s/metrics for %v", r.addr, linger))
		t := time.NewTimer(linger)
		select {
		case <-t.C:
		case s := <-sigs:
			t.Stop()
			r.log.Println(fmt.Sprintf("%v: shutting down the metrics server", s))
		case err := <-r.served:
			t.Stop()
			return fmt.Errorf("serve http://%s: %w", r.addr, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
		<-r.served
		return fmt.Errorf("shut down the metrics server: %w", err)
	}
	if err := <-r.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http://%s: %w", r.addr, err)
	}
	return nil
}
