package exporters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// PromOptions configures a PromCollector.
type PromOptions struct {
	// ReadTimeout bounds each target's Read through its context. Zero
	// means 10 seconds.
	ReadTimeout time.Duration
	// Now is the clock of vpmu_scrape_duration_seconds; nil means
	// time.Now.
	Now func() time.Time
}

// PromCollector is a prometheus.Collector that reads the counters of its
// targets on every Collect and exposes them as const metrics; see
// docs/metrics.md for the metrics.
//
// It is an unchecked collector: Describe sends no descriptor, because the
// label names of its metrics depend on the targets (a process is labeled
// by pid, a VM by vm and vcpu), which can be added after registration.
// The collector checks instead what the registry would: target
// identities are unique, and no row label clashes with another.
//
// Collect is safe for concurrent use (two Prometheus servers scraping at
// once): reads of one target are serialized, different targets do not
// wait for each other's locks. A target whose Read fails yields an
// invalid metric (prometheus.NewInvalidMetric) and vpmu_event_up 0 for
// its counters; the other targets are collected as usual. With promhttp,
// serve such a registry with HandlerOpts.ErrorHandling set to
// promhttp.ContinueOnError so that one failed target does not fail the
// whole scrape.
//
// The collector does not own its targets: whoever opened them closes
// them, after removing them from the collector.
type PromCollector struct {
	opts  PromOptions
	descs promDescCache

	mu      sync.RWMutex // guards targets
	targets []*promTarget
}

// promTarget is a target with the collector's state about it.
type promTarget struct {
	t    PromTarget
	info PromTargetInfo
	// names and values are the target's labels: target, then Info's.
	names, values []string
	pairs         []*dto.LabelPair
	duration      *prometheus.Desc
	errorsDesc    *prometheus.Desc

	mu      sync.Mutex // serializes Read; guards the fields below
	rows    []*promRow
	next    []*promRow // scratch for the next rows
	errors  uint64
	removed bool // Remove was called: do not read it again
}

// NewPromCollector returns a collector of the targets. It fails if a
// target's Info is malformed or two targets have the same identity.
func NewPromCollector(opts PromOptions, targets ...PromTarget) (*PromCollector, error) {
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &PromCollector{opts: opts}
	for _, t := range targets {
		if err := c.Add(t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Add adds a target; the next Collect reads it. It fails if the target's
// Info is malformed or another target has the same identity. It is safe
// to call concurrently with Collect.
func (c *PromCollector) Add(t PromTarget) error {
	info := t.Info()
	info.Labels = slices.Clone(info.Labels)
	if err := checkInfo(info); err != nil {
		return fmt.Errorf("exporters: add target: %w", err)
	}
	pt := &promTarget{t: t, info: info}
	pt.names = append(pt.names, promLabelTarget)
	pt.values = append(pt.values, info.Kind)
	for _, l := range info.Labels {
		if !prometheusLabelValueOK(l.Value) {
			return fmt.Errorf("exporters: add target %s: label %s value is not valid UTF-8", info, l.Name)
		}
		pt.names = append(pt.names, l.Name)
		pt.values = append(pt.values, l.Value)
	}
	pt.pairs = labelPairs(pt.names, pt.values, "", "")
	pt.duration = prometheus.NewDesc(promDuration, helpDuration, pt.names, nil)
	pt.errorsDesc = prometheus.NewDesc(promErrors, helpErrors, pt.names, nil)

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.targets {
		if sameIdentity(o.info, info) {
			return fmt.Errorf("exporters: add target %s: a target with the same identity is already collected", info)
		}
	}
	c.targets = append(c.targets, pt)
	return nil
}

// Remove removes a target (compared with ==) and reports whether it was
// there. It waits for a Collect that is reading the target; once it
// returns, the collector does not call the target again, so the caller
// may close it.
func (c *PromCollector) Remove(t PromTarget) bool {
	c.mu.Lock()
	var found *promTarget
	for i, pt := range c.targets {
		if pt.t == t {
			found = pt
			c.targets = slices.Delete(c.targets, i, i+1)
			break
		}
	}
	c.mu.Unlock()
	if found == nil {
		return false
	}
	// A Collect may have taken the list before the deletion.
	found.mu.Lock()
	found.removed = true
	found.mu.Unlock()
	return true
}

// Targets returns the identities of the targets, in the order added.
func (c *PromCollector) Targets() []PromTargetInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]PromTargetInfo, len(c.targets))
	for i, pt := range c.targets {
		out[i] = pt.info
	}
	return out
}

// Describe sends nothing: the collector is unchecked (see PromCollector).
func (c *PromCollector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every target once and sends its metrics.
func (c *PromCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	targets := slices.Clone(c.targets)
	c.mu.RUnlock()
	for _, pt := range targets {
		c.collectTarget(pt, ch)
	}
}

// promMetric is a const metric whose label pairs are shared with the
// other metrics of its counter and reused across scrapes.
type promMetric struct {
	desc    *prometheus.Desc
	pairs   []*dto.LabelPair
	value   float64
	counter bool
}

func (m *promMetric) Desc() *prometheus.Desc { return m.desc }

func (m *promMetric) Write(out *dto.Metric) error {
	out.Label = m.pairs
	// The value is never changed after the metric is sent, so the
	// written metric may point at it.
	if m.counter {
		out.Counter = &dto.Counter{Value: &m.value}
	} else {
		out.Gauge = &dto.Gauge{Value: &m.value}
	}
	return nil
}

// promBatch allocates the metrics of one target's collection in chunks.
type promBatch struct {
	ch  chan<- prometheus.Metric
	buf []promMetric
}

func (b *promBatch) send(desc *prometheus.Desc, pairs []*dto.LabelPair, counter bool, v float64) {
	if len(b.buf) == cap(b.buf) {
		b.buf = make([]promMetric, 0, 64)
	}
	b.buf = append(b.buf, promMetric{desc: desc, pairs: pairs, value: v, counter: counter})
	b.ch <- &b.buf[len(b.buf)-1]
}

// collectTarget reads one target and sends its metrics.
func (c *PromCollector) collectTarget(pt *promTarget, ch chan<- prometheus.Metric) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.removed {
		return
	}
	b := &promBatch{ch: ch, buf: make([]promMetric, 0, 8*len(pt.rows)+2)}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ReadTimeout)
	start := c.opts.Now()
	rows, err := pt.t.Read(ctx)
	elapsed := c.opts.Now().Sub(start)
	cancel()
	failed := err != nil
	if err != nil {
		ch <- prometheus.NewInvalidMetric(pt.duration, fmt.Errorf("read target %s: %w", pt.info, err))
		for _, pr := range pt.rows {
			pr.up, pr.reason = false, ReasonReadError
			b.send(pr.descs.down, pr.downPairs(ReasonReadError), false, 0)
		}
	} else {
		failed = c.collectRows(pt, rows, b)
	}
	if failed {
		pt.errors++
	}
	b.send(pt.duration, pt.pairs, false, elapsed.Seconds())
	b.send(pt.errorsDesc, pt.pairs, true, float64(pt.errors))
}

// collectRows updates the rows' state from a read and sends their
// metrics. It reports whether any row had a read error.
func (c *PromCollector) collectRows(pt *promTarget, rows []Row, b *promBatch) (failed bool) {
	next := pt.next[:0]
	var byKey map[string]*promRow // the previous rows, built on the first mismatch
	reordered := len(rows) != len(pt.rows)
	for i := range rows {
		r := &rows[i]
		var pr *promRow
		if i < len(pt.rows) && pt.rows[i].matches(r) {
			pr = pt.rows[i]
		} else {
			reordered = true
			if byKey == nil {
				byKey = make(map[string]*promRow, len(pt.rows))
				for _, o := range pt.rows {
					byKey[o.event+"\x03"+labelKey(o.labels)] = o
				}
			}
			pr = byKey[rowKey(r)]
		}
		if pr == nil {
			var err error
			if pr, err = newPromRow(pt, r, &c.descs); err != nil {
				b.ch <- prometheus.NewInvalidMetric(pt.duration, fmt.Errorf("target %s: %w", pt.info, err))
				failed = true
				continue
			}
		}
		next = append(next, pr)
		if c.collectRow(pr, r, b) {
			failed = true
		}
	}
	if reordered {
		// Keep the new order; the old slice becomes the next scratch.
		pt.rows, pt.next = next, pt.rows[:0]
	} else {
		pt.next = next[:0]
	}
	return failed
}

// collectRow sends one counter's metrics. It reports a read error.
func (c *PromCollector) collectRow(pr *promRow, r *Row, b *promBatch) (readErr bool) {
	d := pr.descs
	switch classify(r) {
	case rowNotSupported:
		pr.up, pr.reason = false, ReasonNotSupported
		b.send(d.down, pr.downPairs(ReasonNotSupported), false, 0)
		b.send(d.notSupported, pr.messagePairs(strings.ToValidUTF8(r.Reason(), "\uFFFD")), false, 1)
		return false
	case rowError:
		pr.up, pr.reason = false, ReasonReadError
		b.send(d.down, pr.downPairs(ReasonReadError), false, 0)
		return true
	}
	v := r.Value
	if pr.reason != ReasonStarved {
		// Only starvation outlives an interval in which nothing ran.
		pr.up, pr.reason = true, ""
	}
	pr.observe(v)
	if errors.Is(r.Err, ErrTargetExited) {
		pr.up, pr.reason = false, ReasonExited
	}
	if est, ok := pr.estimated(); ok {
		b.send(d.events, pr.pairs, true, est)
	}
	b.send(d.raw, pr.pairs, true, float64(v.Raw))
	b.send(d.enabled, pr.pairs, true, v.Enabled.Seconds())
	b.send(d.running, pr.pairs, true, v.Running.Seconds())
	if v.Enabled > 0 {
		b.send(d.ratio, pr.pairs, false, v.Ratio())
	}
	if pr.up {
		b.send(d.up, pr.pairs, false, 1)
	} else {
		b.send(d.down, pr.downPairs(pr.reason), false, 0)
	}
	return false
}
