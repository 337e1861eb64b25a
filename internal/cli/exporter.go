package cli

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// exporterDefaultEvents are counted when no -e is given: vpmu stat's
// defaults, whose hardware events show as not supported (with the
// reason) on a machine without a PMU.
var exporterDefaultEvents = defaultEvents

var exporterUsage = `Usage: vpmu exporter --listen ADDR [-e SPEC]... [-p PID]... [--cgroup PATH]...
                     [--per-cpu] [--per-thread]

Count events on the given targets and serve them as Prometheus metrics on
http://ADDR/metrics (docs/metrics.md lists the metrics), until SIGINT or
SIGTERM. The counters are opened once, at start, and read on each scrape.
An event that cannot be counted on a target is exposed as such
(vpmu_event_up{reason="not_supported"} 0, with the reason in
vpmu_event_not_supported_info), never as a count of 0. A process that
exits keeps its final counts, with vpmu_event_up{reason="exited"} 0; it is
not looked for again.

Flags:

      --listen ADDR     address to serve on, host:port (":9417" for every
                        interface, "127.0.0.1:0" for any free port)
  -e, --event SPEC      events to count, in perf's syntax (see vpmu stat);
                        repeatable. Default:
                        ` + strings.Join(exporterDefaultEvents[:4], ",") + `,
                        ` + strings.Join(exporterDefaultEvents[4:], ",") + `
  -p, --pid PID[,PID]   count the existing process PID, all of its threads
                        and the threads and children they start; repeatable
      --cgroup PATH     count the tasks of a cgroup on every CPU: its
                        directory, or its path in the cgroup v2 hierarchy
                        (jobs/web); repeatable; needs CAP_PERFMON
      --per-cpu         count everything that runs on each CPU (one series
                        per CPU); needs CAP_PERFMON
      --per-thread      split each process's counts by thread (tid and comm
                        labels). Each thread adds a series per event and
                        metric, and thread ids change when processes
                        restart: use it for processes with few long-lived
                        threads
  -h, --help            show this help

Besides /metrics, / serves a page listing the targets and the events that
cannot be counted, with the reasons.
`

var exporterCommand = &command{
	name:    "exporter",
	summary: "serve counters of processes, cgroups and CPUs as Prometheus metrics",
	usage:   exporterUsage,
	run:     runExporter,
}

// exporterOptions are vpmu exporter's parsed flags.
type exporterOptions struct {
	listen    string
	events    stringList
	pidTexts  stringList
	pids      []int
	cgroups   stringList
	perCPU    bool
	perThread bool
}

func parseExporterFlags(args []string) (*exporterOptions, error) {
	o := &exporterOptions{}
	fs := newFlagSet("exporter")
	fs.StringVar(&o.listen, "listen", "", "")
	for _, n := range []string{"e", "event"} {
		fs.Var(&o.events, n, "")
	}
	for _, n := range []string{"p", "pid"} {
		fs.Var(&o.pidTexts, n, "")
	}
	fs.Var(&o.cgroups, "cgroup", "")
	fs.BoolVar(&o.perCPU, "per-cpu", false, "")
	fs.BoolVar(&o.perThread, "per-thread", false, "")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q: vpmu exporter counts existing processes (-p), cgroups (--cgroup) and CPUs (--per-cpu)", fs.Arg(0))
	}
	return o, o.validate()
}

// validate checks the flags and parses the pids.
func (o *exporterOptions) validate() error {
	if o.listen == "" {
		return usagef("--listen ADDR is required (for example --listen :9417)")
	}
	if !strings.Contains(o.listen, ":") {
		return usagef("--listen %q: want host:port or :port", o.listen)
	}
	seen := map[int]bool{}
	for _, text := range o.pidTexts {
		for _, f := range strings.Split(text, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return usagef("-p: bad process id %q: want a positive number", f)
			}
			if seen[pid] {
				return usagef("-p: process %d given twice", pid)
			}
			seen[pid] = true
			o.pids = append(o.pids, pid)
		}
	}
	if len(o.pids) == 0 && len(o.cgroups) == 0 && !o.perCPU {
		return usagef("nothing to count: give -p PID, --cgroup PATH or --per-cpu")
	}
	if o.perThread && len(o.pids) == 0 {
		return usagef("--per-thread splits processes by thread: it needs -p PID")
	}
	return nil
}

// spec resolves the -e flags, or the default events.
func (o *exporterOptions) spec(c Catalog) (pmu.Spec, error) {
	return parseEventFlags(c, o.events, exporterDefaultEvents)
}

// nativeTarget is a target the exporter opened and must close.
type nativeTarget interface {
	exporters.PromTarget
	Unsupported() []exporters.Row
	Close() error
}

// openTargets opens every target of o. On error, whatever was opened is
// closed.
func (o *exporterOptions) openTargets(src *perfevent.Source, spec pmu.Spec) (_ []nativeTarget, err error) {
	var ts []nativeTarget
	defer func() {
		if err != nil {
			closeTargets(ts)
		}
	}()
	for _, pid := range o.pids {
		p, err := exporters.NewProcessTarget(src, spec, pid, exporters.ProcessOptions{PerThread: o.perThread})
		if err != nil {
			return nil, fmt.Errorf("-p %d: %w", pid, err)
		}
		ts = append(ts, p)
	}
	for _, path := range o.cgroups {
		c, err := exporters.NewCgroupTarget(src, spec, path)
		if err != nil {
			return nil, fmt.Errorf("--cgroup %s: %w", path, err)
		}
		ts = append(ts, c)
	}
	if o.perCPU {
		s, err := exporters.NewSystemTarget(src, spec)
		if err != nil {
			return nil, fmt.Errorf("--per-cpu: %w", err)
		}
		ts = append(ts, s)
	}
	return ts, nil
}

func closeTargets(ts []nativeTarget) error {
	var errs []error
	for _, t := range ts {
		if err := t.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", t.Info(), err))
		}
	}
	return errors.Join(errs...)
}

// notSupportedNotes groups the events that cannot be counted by reason:
// "cycles, instructions on process{pid="1"}: not supported: no hardware
// PMU: ...", in a stable order.
func notSupportedNotes(ts []nativeTarget) []string {
	type key struct{ target, reason string }
	events := map[key][]string{}
	var keys []key
	for _, t := range ts {
		for _, r := range t.Unsupported() {
			k := key{t.Info().String(), r.Reason()}
			if events[k] == nil {
				keys = append(keys, k)
			}
			events[k] = append(events[k], r.Name())
		}
	}
	notes := make([]string, 0, len(keys))
	for _, k := range keys {
		notes = append(notes, fmt.Sprintf("%s on %s: not supported: %s", strings.Join(events[k], ", "), k.target, k.reason))
	}
	sort.Strings(notes)
	return notes
}

func runExporter(env *Env, args []string) int {
	o, err := parseExporterFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, exporterUsage)
		return exitOK
	}
	if err != nil {
		return env.fail("exporter", err)
	}
	if env.Catalog == nil {
		return env.fail("exporter", fmt.Errorf("no event catalog: %w", ErrNotWired))
	}
	spec, err := o.spec(env.Catalog)
	if err != nil {
		return env.failSpec("exporter", err)
	}
	src, ok := env.Source.(*perfevent.Source)
	if !ok {
		return env.fail("exporter", fmt.Errorf("the exporter counts with the Linux perf_event backend, and this build has %T: %w", env.Source, ErrNotWired))
	}
	targets, err := o.openTargets(src, spec)
	if err != nil {
		return env.fail("exporter", err)
	}
	err = serveExporter(env, o.listen, targets)
	if cerr := closeTargets(targets); err == nil {
		err = cerr
	}
	if err != nil {
		return env.fail("exporter", err)
	}
	return exitOK
}
