package pmu

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Entry is one event of a Catalog, as `vpmu list` shows it.
type Entry struct {
	// Name is the canonical name: "cpu-cycles", "L1-dcache-load-misses",
	// "syscalls", or "pmu/alias/" for an event from sysfs.
	Name string
	// Aliases are other names of the same event ("cycles").
	Aliases []string
	Kind    Kind
	// Description says what the event counts.
	Description string
	// PMU is the sysfs PMU of a KindPMU event, else empty.
	PMU string
	// Event is the event resolved without modifiers.
	Event Event

	// PerPkg and Snapshot come from the sysfs .per-pkg and .snapshot
	// files: count the event once per package, and the value is a level
	// rather than a running count.
	PerPkg, Snapshot bool
	// Params lists the parameters (term=? in sysfs) that a spec must
	// give, as in pmu/alias,param=N/. Event leaves them zero.
	Params []string
}

// Catalog knows every event that can be named in a spec on this machine:
// the generic hardware, cache and software events of perf, vpmu's own
// hypervisor events, and the PMUs and event aliases found in sysfs.
//
// A Catalog never changes after it is built and is safe for concurrent
// use. Building one reads sysfs but opens no perf event.
type Catalog struct {
	root         string
	builtins     builtinIndex
	pmus         map[string]*pmuDesc
	entries      []Entry
	discoveryErr error
}

// NewCatalog returns a catalog of the builtin events and of the PMUs found
// under <sysfsRoot>/bus/event_source/devices (pass "/sys" on a live
// system). A missing devices directory is not an error: the catalog then
// has only the builtins. An unreadable or malformed sysfs file is a
// *SysfsError naming it (errors.Is(err, ErrSysfs)).
func NewCatalog(sysfsRoot string) (*Catalog, error) {
	pmus, err := discoverPMUs(sysfsRoot)
	if err != nil {
		return nil, fmt.Errorf("pmu: discover PMUs: %w", err)
	}
	return newCatalog(sysfsRoot, pmus), nil
}

func newCatalog(root string, pmus map[string]*pmuDesc) *Catalog {
	idx, entries := newBuiltinIndex()
	c := &Catalog{root: root, builtins: idx, pmus: pmus}
	entries = append(entries, cacheEntries()...)
	for _, p := range pmus {
		for _, a := range p.aliases {
			entries = append(entries, p.aliasEntry(a))
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Kind != entries[j].Kind {
			return entries[i].Kind < entries[j].Kind
		}
		return entries[i].Name < entries[j].Name
	})
	c.entries = entries
	return c
}

var defaultCatalog = sync.OnceValue(func() *Catalog { return catalogOrBuiltins("/sys") })

// catalogOrBuiltins builds the catalog of root. A malformed PMU is left
// out, with the others kept, and the catalog remembers the error.
func catalogOrBuiltins(root string) *Catalog {
	pmus, err := discoverPMUs(root)
	c := newCatalog(root, pmus)
	if err != nil {
		c.discoveryErr = fmt.Errorf("pmu: discover PMUs: %w", err)
	}
	return c
}

// DefaultCatalog returns the catalog of this machine, built from /sys on
// first use. It is safe for concurrent use. A PMU whose sysfs files are
// malformed is left out of it (the builtin events and the other PMUs stay)
// and DiscoveryErr says why.
func DefaultCatalog() *Catalog { return defaultCatalog() }

// DiscoveryErr returns the error that made a DefaultCatalog leave out
// malformed PMUs, or nil.
func (c *Catalog) DiscoveryErr() error { return c.discoveryErr }

// SysfsRoot returns the sysfs root the catalog was built from.
func (c *Catalog) SysfsRoot() string { return c.root }

// List returns every event of the catalog, sorted by kind and then name.
// The slice is the caller's.
func (c *Catalog) List() []Entry {
	out := make([]Entry, len(c.entries))
	for i, e := range c.entries {
		e.Aliases = slices.Clone(e.Aliases)
		e.Params = slices.Clone(e.Params)
		out[i] = e
	}
	return out
}

// PMUs returns the names of the PMUs found in sysfs, sorted.
func (c *Catalog) PMUs() []string {
	names := make([]string, 0, len(c.pmus))
	for n := range c.pmus {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PMUType returns the perf_event_attr.type of a sysfs PMU.
func (c *Catalog) PMUType(name string) (uint32, bool) {
	p, ok := c.pmus[name]
	if !ok {
		return 0, false
	}
	return p.typ, true
}

// Lookup resolves an event name without modifiers: a builtin name or
// alias ("cycles"; matched exactly, as perf does), a cache event in any of
// perf's spellings ("L1-dcache-load-misses", "l1d-load-miss"; any case), a
// sysfs alias written "pmu/alias/", or a bare sysfs alias that exactly one
// PMU has ("tsc"). Like perf, the returned Event keeps the name as written
// for builtin and cache events; sysfs events get the "pmu/alias/" form.
// ok is false for unknown names and for sysfs aliases that need
// parameters; use ParseSpec for raw events, terms and modifiers.
func (c *Catalog) Lookup(name string) (Event, bool) {
	if e, ok := c.lookupGeneric(name); ok {
		return e, true
	}
	if pmuName, rest, ok := strings.Cut(name, "/"); ok {
		alias, ok := strings.CutSuffix(rest, "/")
		p := c.pmus[pmuName]
		if !ok || p == nil {
			return Event{}, false
		}
		a := p.aliases[strings.ToLower(alias)]
		if a == nil || len(a.params) > 0 {
			return Event{}, false
		}
		return p.aliasEvent(a), true
	}
	matches := c.bareAlias(name)
	if len(matches) != 1 || len(matches[0].a.params) > 0 {
		return Event{}, false
	}
	return matches[0].p.aliasEvent(matches[0].a), true
}

// lookupGeneric resolves a builtin or cache event name, keeping the
// spelling.
func (c *Catalog) lookupGeneric(name string) (Event, bool) {
	if e, ok := c.builtins[name]; ok {
		ev := e.Event
		ev.Name = name
		return ev, true
	}
	if id, op, res, ok := decodeCacheEvent(name); ok {
		ev := cacheEvent(id, op, res)
		ev.Name = name
		return ev, true
	}
	return Event{}, false
}

type pmuAlias struct {
	p *pmuDesc
	a *sysfsAlias
}

// bareAlias finds the PMUs that have an event alias called name (any
// case), sorted by PMU name.
func (c *Catalog) bareAlias(name string) []pmuAlias {
	var out []pmuAlias
	key := strings.ToLower(name)
	for _, p := range c.pmus {
		if a := p.aliases[key]; a != nil {
			out = append(out, pmuAlias{p, a})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].p.name < out[j].p.name })
	return out
}

// aliasEvent returns the Event of a sysfs alias used on its own.
func (p *pmuDesc) aliasEvent(a *sysfsAlias) Event {
	r, _ := p.resolve([]rawTerm{{name: a.name}}, false)
	return p.event(p.name+"/"+a.name+"/", r)
}

// event builds the Event of a resolved term list.
func (p *pmuDesc) event(name string, r termResult) Event {
	e := Event{
		Name: name, Kind: KindPMU, Type: p.typ, PMU: p.name,
		Config: r.cfg[0], Config1: r.cfg[1], Config2: r.cfg[2],
	}
	if r.alias != nil {
		e.Unit, e.Scale = r.alias.unit, r.alias.scale
	}
	return e
}

// aliasEntry describes a sysfs alias for List.
func (p *pmuDesc) aliasEntry(a *sysfsAlias) Entry {
	r, _ := p.resolve(a.terms, true)
	ev := p.event(p.name+"/"+a.name+"/", r)
	ev.Unit, ev.Scale = a.unit, a.scale
	desc := p.name + " PMU event " + a.text
	var extra []string
	if a.unit != "" {
		extra = append(extra, "unit "+a.unit)
	}
	if a.scale != 0 {
		extra = append(extra, "scale "+strconv.FormatFloat(a.scale, 'g', -1, 64))
	}
	if a.perPkg {
		extra = append(extra, "per package")
	}
	if a.snapshot {
		extra = append(extra, "snapshot")
	}
	if len(a.params) > 0 {
		extra = append(extra, "needs "+strings.Join(a.params, ", "))
	}
	if len(extra) > 0 {
		desc += " (" + strings.Join(extra, "; ") + ")"
	}
	return Entry{
		Name: ev.Name, Kind: KindPMU, Description: desc, PMU: p.name, Event: ev,
		PerPkg: a.perPkg, Snapshot: a.snapshot, Params: slices.Clone(a.params),
	}
}
