package exporters

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vpmu/vpmu/pmu"
)

// promRow is what the collector remembers about one counter of a target
// (one event of one thread, VCPU or CPU) between scrapes. It is guarded
// by its target's lock.
type promRow struct {
	event  string  // Row.Name()
	labels []Label // Row.Labels, copied
	descs  *promDescs
	// names and values are the labels of the count metrics; pairs is
	// them in exposition form, sorted, built once and shared by every
	// metric of the row (label pairs are read-only once collected).
	names, values []string
	pairs         []*dto.LabelPair
	down          [promNumReasons][]*dto.LabelPair // pairs plus a reason
	message       []*dto.LabelPair                 // pairs plus msgValue
	msgValue      string

	// The previous reading, and the estimate built from the readings so
	// far (see observe).
	last    pmu.Value
	est     float64
	pending time.Duration // enabled time of intervals the counter never ran
	up      bool
	reason  string
}

// promReasons lists the reason vocabulary, to index promRow.down.
var promReasons = [...]string{ReasonNotSupported, ReasonStarved, ReasonExited, ReasonReadError}

const promNumReasons = len(promReasons)

// newPromRow builds the state of a row first seen in a read. It checks
// the row's label names against the target's.
func newPromRow(t *promTarget, r *Row, cache *promDescCache) (*promRow, error) {
	names := make([]string, 0, len(t.names)+1+len(r.Labels))
	values := make([]string, 0, cap(names))
	names = append(append(names, promLabelEvent), t.names...)
	values = append(append(values, r.Name()), t.values...)
	for _, l := range r.Labels {
		if err := checkLabelName(l.Name); err != nil {
			return nil, fmt.Errorf("row of event %q: %w", r.Name(), err)
		}
		for _, n := range names {
			if n == l.Name {
				return nil, fmt.Errorf("row of event %q: label %q is already set by the target or another label of the row", r.Name(), l.Name)
			}
		}
		names = append(names, l.Name)
		values = append(values, l.Value)
	}
	for _, v := range values {
		if !prometheusLabelValueOK(v) {
			return nil, fmt.Errorf("row of event %q: label value %q is not valid UTF-8", r.Name(), v)
		}
	}
	pr := &promRow{
		event:  r.Name(),
		labels: append([]Label(nil), r.Labels...),
		descs:  cache.get(names),
		names:  names,
		values: values,
		pairs:  labelPairs(names, values, "", ""),
		up:     true,
	}
	for i, reason := range promReasons {
		pr.down[i] = labelPairs(names, values, promLabelReason, reason)
	}
	return pr, nil
}

// labelPairs returns the label pairs of names and values, plus extra
// (when not empty) with value extraValue, sorted by name as the
// exposition formats want them.
func labelPairs(names, values []string, extra, extraValue string) []*dto.LabelPair {
	ps := make([]*dto.LabelPair, 0, len(names)+1)
	for i, n := range names {
		ps = append(ps, &dto.LabelPair{Name: &n, Value: &values[i]})
	}
	if extra != "" {
		ps = append(ps, &dto.LabelPair{Name: &extra, Value: &extraValue})
	}
	slices.SortFunc(ps, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return ps
}

// matches reports whether r is the row pr remembers.
func (pr *promRow) matches(r *Row) bool {
	if len(r.Labels) != len(pr.labels) {
		return false
	}
	for i, l := range r.Labels {
		if pr.labels[i] != l {
			return false
		}
	}
	if r.Event != "" {
		return r.Event == pr.event
	}
	return r.Value.Event.String() == pr.event
}

// rowKey identifies a row for the slow path of matching.
func rowKey(r *Row) string { return r.Name() + "\x03" + labelKey(r.Labels) }

// downPairs returns the label pairs of vpmu_event_up with the reason.
func (pr *promRow) downPairs(reason string) []*dto.LabelPair {
	for i, r := range promReasons {
		if r == reason {
			return pr.down[i]
		}
	}
	return labelPairs(pr.names, pr.values, promLabelReason, reason)
}

// messagePairs returns the label pairs of vpmu_event_not_supported_info.
func (pr *promRow) messagePairs(msg string) []*dto.LabelPair {
	if pr.message == nil || pr.msgValue != msg {
		pr.message = labelPairs(pr.names, pr.values, promLabelMessage, msg)
		pr.msgValue = msg
	}
	return pr.message
}

// observe folds a new cumulative reading into the estimate and sets the
// counter's health.
//
// The estimate is the sum, over the intervals between reads, of each
// interval's count extrapolated to the interval's enabled time:
// Δraw·Δenabled/Δrunning. It equals the raw count when the counter was
// never multiplexed, it never decreases (so Prometheus's rate() is
// right), and it follows a multiplexing ratio that changes over time
// better than perf's whole-run extrapolation raw·enabled/running, which
// can even decrease from one scrape to the next. The enabled time of an
// interval in which the counter never ran is carried to the next
// interval in which it runs.
//
// Health: a counter that was enabled but never ran during the interval
// is starved. When nothing was enabled (the target did not run), the
// previous health stands.
func (pr *promRow) observe(v pmu.Value) {
	prev := pr.last
	if v.Raw < prev.Raw || v.Enabled < prev.Enabled || v.Running < prev.Running {
		// The source reopened its counters: count from zero again.
		prev = pmu.Value{}
		pr.pending = 0
	}
	pr.last = v
	dRaw := v.Raw - prev.Raw
	dEn := v.Enabled - prev.Enabled
	dRun := v.Running - prev.Running
	scale := v.Event.Scale
	if scale == 0 {
		scale = 1
	}
	switch {
	case dRun > 0:
		en := dEn + pr.pending
		pr.pending = 0
		d := float64(dRaw)
		if en > dRun {
			d *= float64(en) / float64(dRun)
		}
		pr.est += d * scale
		pr.up, pr.reason = true, ""
	case dRaw > 0:
		// Counts without running time: a source that keeps no times.
		pr.est += float64(dRaw) * scale
		pr.up, pr.reason = true, ""
	case dEn > 0:
		pr.pending += dEn
		pr.up, pr.reason = false, ReasonStarved
	}
}

// estimated returns the count estimate, or false while it is unknown:
// the counter was enabled but has never run.
func (pr *promRow) estimated() (float64, bool) {
	if pr.last.Running == 0 && pr.last.Enabled > 0 && pr.last.Raw == 0 {
		return 0, false
	}
	return pr.est, true
}

// rowKind classifies a row for the collector.
type rowKind uint8

const (
	rowReading rowKind = iota
	rowExited
	rowNotSupported
	rowError
)

func classify(r *Row) rowKind {
	switch {
	case r.Err == nil:
		return rowReading
	case errors.Is(r.Err, pmu.ErrNotSupported):
		return rowNotSupported
	case errors.Is(r.Err, ErrTargetExited):
		return rowExited
	}
	return rowError
}
