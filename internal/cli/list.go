package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/vpmu/vpmu/pmu"
)

var listUsage = `Usage: vpmu list [--json] [--desc] [FILTER...]

List the events vpmu knows, grouped by kind like perf list: generic
hardware, software and cache events, raw events, the events of the PMUs
found in /sys/bus/event_source/devices, and the vpmu hypervisor's own
events. Each event is probed: one that cannot be counted on this machine
is marked <not supported>, and a note at the end says why.

A FILTER selects a kind (hw, sw, cache, raw, pmu, vm) or events whose
name, alias or PMU matches it: a glob when it has *, ? or [, otherwise a
substring; case is ignored. Several filters select the union.

Flags:

  -j, --json    print a JSON array of events with their support status
      --desc    print each event's description under it
  -h, --help    show this help
`

var listCommand = &command{
	name:    "list",
	summary: "list events and whether they can be counted here",
	usage:   listUsage,
	run:     runList,
}

// kindOrder is the order perf list prints kinds in, with vpmu's last.
var kindOrder = []pmu.Kind{pmu.KindHardware, pmu.KindSoftware, pmu.KindHWCache, pmu.KindRaw, pmu.KindPMU, pmu.KindVirtual}

// kindFilters maps filter words to kinds.
var kindFilters = map[string]pmu.Kind{
	"hw": pmu.KindHardware, "hardware": pmu.KindHardware,
	"sw": pmu.KindSoftware, "software": pmu.KindSoftware,
	"cache": pmu.KindHWCache, "hwcache": pmu.KindHWCache,
	"raw": pmu.KindRaw,
	"pmu": pmu.KindPMU,
	"vm":  pmu.KindVirtual, "virtual": pmu.KindVirtual,
}

// Support states of a listed event.
const (
	statusSupported    = "supported"
	statusNotSupported = "not supported"
	statusUnknown      = "unknown"
)

// listed is an event with its support status, as printed.
type listed struct {
	Name        string   `json:"name"`
	Aliases     []string `json:"aliases,omitempty"`
	Kind        string   `json:"kind"`
	PMU         string   `json:"pmu,omitempty"`
	Description string   `json:"description,omitempty"`
	Type        uint32   `json:"type"`
	Config      string   `json:"config"`
	Status      string   `json:"status"`
	Reason      string   `json:"reason,omitempty"`

	kind pmu.Kind
}

func runList(env *Env, args []string) int {
	var asJSON, desc bool
	fs := newFlagSet("list")
	fs.BoolVar(&asJSON, "j", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.BoolVar(&desc, "desc", false, "")
	err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, listUsage)
		return exitOK
	}
	if err != nil {
		return env.fail("list", err)
	}
	if env.Catalog == nil {
		return env.fail("list", fmt.Errorf("no event catalog: %w", ErrNotWired))
	}
	if d, ok := env.Catalog.(interface{ DiscoveryErr() error }); ok {
		if err := d.DiscoveryErr(); err != nil {
			fmt.Fprintf(env.Stderr, "vpmu list: warning: only the builtin events are listed: %v\n", err)
		}
	}
	filters := fs.Args()
	var events []listed
	for _, e := range env.Catalog.List() {
		if matchEntry(e, filters) {
			events = append(events, probeEntry(env.Source, e))
		}
	}
	if len(events) == 0 && len(filters) > 0 {
		return env.fail("list", fmt.Errorf("no event matches %q", strings.Join(filters, " ")))
	}
	if asJSON {
		err = writeListJSON(env.Stdout, events)
	} else {
		err = writeListText(env.Stdout, events, desc)
	}
	if err != nil {
		return env.fail("list", err)
	}
	return exitOK
}

// displayName is the name perf list shows: "cpu-cycles OR cycles", and
// pmu/event/ for a sysfs event.
func displayName(e pmu.Entry) string {
	name := e.Name
	if e.Kind == pmu.KindPMU && e.PMU != "" && !strings.Contains(name, "/") {
		name = e.PMU + "/" + name + "/"
	}
	for _, a := range e.Aliases {
		name += " OR " + a
	}
	return name
}

// matchEntry reports whether e passes any of the filters (all pass when
// there are none).
func matchEntry(e pmu.Entry, filters []string) bool {
	if len(filters) == 0 {
		return true
	}
	names := append([]string{e.Name}, e.Aliases...)
	if e.PMU != "" {
		names = append(names, e.PMU+"/"+e.Name, e.PMU+"/"+e.Name+"/")
	}
	for _, f := range filters {
		f = strings.ToLower(f)
		if k, ok := kindFilters[f]; ok {
			if e.Kind == k {
				return true
			}
			continue
		}
		glob := strings.ContainsAny(f, "*?[")
		for _, n := range names {
			n = strings.ToLower(n)
			if glob {
				if ok, _ := path.Match(f, n); ok {
					return true
				}
			} else if strings.Contains(n, f) {
				return true
			}
		}
	}
	return false
}

// probeEntry asks src whether e can be counted here. Hypervisor events
// never can outside the vpmu VM.
func probeEntry(src pmu.Source, e pmu.Entry) listed {
	l := listed{
		Name:        e.Name,
		Aliases:     e.Aliases,
		Kind:        e.Kind.String(),
		PMU:         e.PMU,
		Description: e.Description,
		Type:        e.Event.Type,
		Config:      fmt.Sprintf("%#x", e.Event.Config),
		kind:        e.Kind,
	}
	if e.Kind == pmu.KindVirtual {
		l.Status, l.Reason = statusNotSupported, pmu.ReasonVirtualOnly
		return l
	}
	p, ok := src.(pmu.Prober)
	if !ok {
		l.Status, l.Reason = statusUnknown, "the counter backend cannot probe events"
		return l
	}
	err := p.Probe(e.Event)
	var ns *pmu.NotSupportedError
	switch {
	case err == nil:
		l.Status = statusSupported
	case errors.As(err, &ns) && ns.Reason != "":
		l.Status, l.Reason = statusNotSupported, ns.Reason
	case errors.Is(err, pmu.ErrNotSupported):
		l.Status, l.Reason = statusNotSupported, err.Error()
	default:
		l.Status, l.Reason = statusUnknown, "probe failed: "+err.Error()
	}
	return l
}

func writeListJSON(w io.Writer, events []listed) error {
	if events == nil {
		events = []listed{}
	}
	b, err := json.MarshalIndent(events, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeListText prints perf list's layout, one section per kind, with
// the support status after the kind and numbered notes for the reasons.
func writeListText(w io.Writer, events []listed, desc bool) error {
	bw := bufio.NewWriter(w)
	var reasons []string
	noteOf := map[string]int{}
	fmt.Fprintln(bw, "\nList of events (countable here unless marked; the notes at the end say why):")
	for _, k := range kindOrder {
		first := true
		for _, l := range events {
			if l.kind != k {
				continue
			}
			if first {
				fmt.Fprintf(bw, "\n%ss:\n", k)
				first = false
			}
			status := ""
			if l.Status != statusSupported {
				n, ok := noteOf[l.Reason]
				if !ok {
					reasons = append(reasons, l.Reason)
					n = len(reasons)
					noteOf[l.Reason] = n
				}
				status = fmt.Sprintf("  <%s> (%d)", l.Status, n)
			}
			fmt.Fprintf(bw, "  %-50s [%s]%s\n", l.display(), l.Kind, status)
			if desc && l.Description != "" {
				fmt.Fprintf(bw, "       %s\n", l.Description)
			}
		}
	}
	if len(reasons) > 0 {
		fmt.Fprintln(bw, "\nNotes:")
		for i, r := range reasons {
			fmt.Fprintf(bw, "  (%d) %s\n", i+1, r)
		}
	}
	return bw.Flush()
}

// display is the name column of the text listing.
func (l listed) display() string {
	return displayName(pmu.Entry{Name: l.Name, Aliases: l.Aliases, Kind: l.kind, PMU: l.PMU})
}
