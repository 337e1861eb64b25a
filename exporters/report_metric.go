package exporters

import (
	"fmt"
	"strings"

	"github.com/vpmu/vpmu/pmu"
)

// Generic event numbers (perf_event_attr.config) of PERF_TYPE_HARDWARE
// and PERF_TYPE_SOFTWARE, from include/uapi/linux/perf_event.h. Only the
// ones derived metrics need are listed.
const (
	hwCPUCycles             = 0
	hwInstructions          = 1
	hwCacheReferences       = 2
	hwCacheMisses           = 3
	hwBranchInstructions    = 4
	hwBranchMisses          = 5
	hwStalledCyclesFrontend = 7
	hwStalledCyclesBackend  = 8

	swCPUClock  = 0
	swTaskClock = 1

	// PERF_TYPE_HW_CACHE config is id | op<<8 | result<<16.
	hwCacheResultAccess = 0
	hwCacheResultMiss   = 1
)

// role is what an event means to the derived metrics.
type role uint8

const (
	roleOther role = iota
	roleTaskClock
	roleCPUClock
	roleCycles
	roleInstructions
	roleCacheRefs
	roleCacheMisses
	roleBranches
	roleBranchMisses
	roleStalledFrontend
	roleStalledBackend
	roleCacheAccess // a PERF_TYPE_HW_CACHE access event
	roleCacheMiss   // a PERF_TYPE_HW_CACHE miss event
)

// roleByName recognizes generic events by their perf names, for sources
// (such as the vpmu hypervisor) that provide them under another Kind.
var roleByName = map[string]role{
	"task-clock":              roleTaskClock,
	"cpu-clock":               roleCPUClock,
	"cycles":                  roleCycles,
	"cpu-cycles":              roleCycles,
	"instructions":            roleInstructions,
	"cache-references":        roleCacheRefs,
	"cache-misses":            roleCacheMisses,
	"branches":                roleBranches,
	"branch-instructions":     roleBranches,
	"branch-misses":           roleBranchMisses,
	"stalled-cycles-frontend": roleStalledFrontend,
	"idle-cycles-frontend":    roleStalledFrontend,
	"stalled-cycles-backend":  roleStalledBackend,
	"idle-cycles-backend":     roleStalledBackend,
}

func roleOf(e pmu.Event) role {
	switch e.Kind {
	case pmu.KindHardware:
		switch e.Config {
		case hwCPUCycles:
			return roleCycles
		case hwInstructions:
			return roleInstructions
		case hwCacheReferences:
			return roleCacheRefs
		case hwCacheMisses:
			return roleCacheMisses
		case hwBranchInstructions:
			return roleBranches
		case hwBranchMisses:
			return roleBranchMisses
		case hwStalledCyclesFrontend:
			return roleStalledFrontend
		case hwStalledCyclesBackend:
			return roleStalledBackend
		}
		return roleOther
	case pmu.KindSoftware:
		switch e.Config {
		case swTaskClock:
			return roleTaskClock
		case swCPUClock:
			return roleCPUClock
		}
		return roleOther
	case pmu.KindHWCache:
		switch e.Config >> 16 & 0xff {
		case hwCacheResultAccess:
			return roleCacheAccess
		case hwCacheResultMiss:
			return roleCacheMiss
		}
		return roleOther
	}
	return roleByName[e.Name]
}

// isClock reports whether the event counts nanoseconds of CPU time; such
// events are shown in msec like perf does.
func isClock(e pmu.Event) bool {
	r := roleOf(e)
	return r == roleTaskClock || r == roleCPUClock
}

// cacheNames are the texts perf uses in "of all <X> accesses", by
// PERF_COUNT_HW_CACHE_* id.
var cacheNames = []string{"L1-dcache", "L1-icache", "LL-cache", "dTLB cache", "iTLB cache"}

// metric is one derived value shown after a count: " # 1.23 insn per
// cycle". The zero metric (Unit == "") means there is none.
type metric struct {
	Value float64
	// Format is the printf verb perf uses for the value in the table
	// ("%8.3f", "%7.2f ", "%7.2f%%").
	Format string
	Unit   string
}

// Text renders the metric for the table: "#    1.23  insn per cycle".
func (m metric) Text() string {
	if m.Unit == "" {
		return ""
	}
	return "# " + fmt.Sprintf(m.Format, m.Value) + " " + m.Unit
}

// Number renders the value for CSV the way perf does: the table format
// without padding, cut after the digits ("12.34%" becomes "12.34").
func (m metric) Number() string {
	if m.Unit == "" {
		return ""
	}
	s := strings.TrimLeft(fmt.Sprintf(m.Format, m.Value), " ")
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.' || end == 0 && s[end] == '-') {
		end++
	}
	return s[:end]
}

// shadow holds, per label set, the counts other rows' metrics divide by.
type shadow struct {
	// clock is the task-clock (or cpu-clock) in ns per label key.
	clock map[string]float64
	// counts holds ratio denominators per label key, exclude bits and
	// role (or cache id/op for roleCacheAccess).
	counts map[shadowKey]float64
}

type shadowKey struct {
	labels  string
	exclude pmu.Exclude
	role    role
	cache   uint64 // id | op<<8, for roleCacheAccess
}

// newShadow indexes the counted rows; keys[i] is labelKey(rows[i].Labels).
func newShadow(rows []Row, keys []string) *shadow {
	s := &shadow{clock: map[string]float64{}, counts: map[shadowKey]float64{}}
	clockRole := map[string]role{}
	for i := range rows {
		r := &rows[i]
		if !r.Counted() {
			continue
		}
		v, ok := r.Value.Scaled()
		if !ok {
			continue
		}
		e := r.Value.Event
		lk := keys[i]
		switch ro := roleOf(e); ro {
		case roleTaskClock, roleCPUClock:
			// task-clock wins over cpu-clock, and the first of each.
			if prev, ok := clockRole[lk]; !ok || prev == roleCPUClock && ro == roleTaskClock {
				s.clock[lk] = v
				clockRole[lk] = ro
			}
		case roleCacheAccess:
			s.counts[shadowKey{lk, e.Exclude, ro, e.Config & 0xffff}] = v
		default:
			k := shadowKey{lk, e.Exclude, ro, 0}
			if _, dup := s.counts[k]; !dup {
				s.counts[k] = v
			}
		}
	}
	return s
}

func (s *shadow) count(r *Row, lk string, ro role) (float64, bool) {
	v, ok := s.counts[shadowKey{lk, r.Value.Event.Exclude, ro, 0}]
	return v, ok && v != 0
}

// metricFor computes a row's derived metric as perf stat does: a ratio
// to its partner event of the same thread/VCPU/CPU and privilege domain
// where there is one, otherwise a rate per second of task-clock. lk is
// labelKey(r.Labels).
func (s *shadow) metricFor(r *Row, lk string, elapsedNS float64) metric {
	if !r.Counted() {
		return metric{}
	}
	v, ok := r.Value.Scaled()
	if !ok {
		return metric{}
	}
	e := r.Value.Event
	pct := func(den float64, unit string) metric {
		return metric{Value: v / den * 100, Format: "%7.2f%%", Unit: unit}
	}
	switch ro := roleOf(e); ro {
	case roleTaskClock, roleCPUClock:
		if elapsedNS > 0 {
			return metric{Value: v / elapsedNS, Format: "%8.3f", Unit: "CPUs utilized"}
		}
		return metric{}
	case roleCycles:
		if clk := s.clock[lk]; clk > 0 {
			return metric{Value: v / clk, Format: "%8.3f", Unit: "GHz"}
		}
		return metric{}
	case roleInstructions:
		if c, ok := s.count(r, lk, roleCycles); ok {
			return metric{Value: v / c, Format: "%7.2f ", Unit: "insn per cycle"}
		}
		return metric{}
	case roleBranchMisses:
		if b, ok := s.count(r, lk, roleBranches); ok {
			return pct(b, "of all branches")
		}
		return metric{}
	case roleCacheMisses:
		if c, ok := s.count(r, lk, roleCacheRefs); ok {
			return pct(c, "of all cache refs")
		}
		return metric{}
	case roleStalledFrontend, roleStalledBackend:
		if c, ok := s.count(r, lk, roleCycles); ok {
			if ro == roleStalledFrontend {
				return pct(c, "frontend cycles idle")
			}
			return pct(c, "backend cycles idle")
		}
		return metric{}
	case roleCacheMiss:
		id := e.Config & 0xff
		k := shadowKey{lk, e.Exclude, roleCacheAccess, e.Config & 0xffff}
		if a := s.counts[k]; a != 0 && id < uint64(len(cacheNames)) {
			return pct(a, "of all "+cacheNames[id]+" accesses")
		}
	}
	return s.rate(lk, v)
}

// rate is perf's fallback metric: events per second of task-clock, with
// K, M or G scaling.
func (s *shadow) rate(lk string, v float64) metric {
	clk := s.clock[lk]
	if clk <= 0 {
		return metric{}
	}
	perSec := v * 1e9 / clk
	unit := "/sec"
	switch {
	case perSec >= 1e9:
		perSec, unit = perSec/1e9, "G/sec"
	case perSec >= 1e6:
		perSec, unit = perSec/1e6, "M/sec"
	case perSec >= 1e3:
		perSec, unit = perSec/1e3, "K/sec"
	}
	return metric{Value: perSec, Format: "%8.3f", Unit: unit}
}

// metrics computes every row's metric.
func (r *Report) metrics() []metric {
	keys := make([]string, len(r.Rows))
	for i := range r.Rows {
		keys[i] = labelKey(r.Rows[i].Labels)
	}
	s := newShadow(r.Rows, keys)
	out := make([]metric, len(r.Rows))
	for i := range r.Rows {
		out[i] = s.metricFor(&r.Rows[i], keys[i], float64(r.Elapsed))
	}
	return out
}
