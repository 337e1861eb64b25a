package exporters

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names. docs/metrics.md is the reference for each.
const (
	promEvents       = "vpmu_events_total"
	promEventsRaw    = "vpmu_events_raw_total"
	promEnabled      = "vpmu_event_enabled_seconds_total"
	promRunning      = "vpmu_event_running_seconds_total"
	promRatio        = "vpmu_event_scaling_ratio"
	promUp           = "vpmu_event_up"
	promNotSupported = "vpmu_event_not_supported_info"
	promDuration     = "vpmu_scrape_duration_seconds"
	promErrors       = "vpmu_scrape_errors_total"
	promBuildInfo    = "vpmu_build_info"
)

const (
	helpEvents = "Events counted since the counter was opened. When the kernel multiplexed the counter, each scrape interval's count is " +
		"extrapolated to the time the counter was enabled in that interval. task-clock and cpu-clock count nanoseconds; sysfs events with a scale are scaled."
	helpEventsRaw    = "Events counted while the counter was running on the PMU, as read from the kernel: not extrapolated, not scaled."
	helpEnabled      = "Time the counter was enabled (perf total_time_enabled): for a task, the time the task ran; for a CPU, wall time."
	helpRunning      = "Time the counter was running on the PMU (perf total_time_running); less than the enabled time when the kernel multiplexed it."
	helpRatio        = "Running time over enabled time since the counter was opened: 1 when never multiplexed."
	helpUp           = "1 when the counter is counting; 0 when it is not, with the reason label: not_supported, starved, exited or read_error."
	helpNotSupported = "An event that cannot be counted on this target, with the reason in the message label. Such events have no count metrics."
	helpDuration     = "Time the last scrape took to read the target's counters."
	helpErrors       = "Scrapes in which the target, or one of its counters, could not be read."
	helpBuildInfo    = "vpmu build information: the version and VCS revision of the main module and the Go version."
)

// promDescs are the descriptors of the per-counter metrics for one list
// of label names.
type promDescs struct {
	events, raw, enabled, running, ratio, up, down, notSupported *prometheus.Desc
}

// promDescCache shares descriptors between the counters that have the
// same label names.
type promDescCache struct {
	mu sync.Mutex
	m  map[string]*promDescs
}

// get returns the descriptors for counters labeled with names (event,
// target, identity labels, row labels). It is safe for concurrent use.
func (c *promDescCache) get(names []string) *promDescs {
	key := strings.Join(names, "\x00")
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.m[key]; ok {
		return d
	}
	if c.m == nil {
		c.m = map[string]*promDescs{}
	}
	n := func(name, help string, extra ...string) *prometheus.Desc {
		ls := names
		if len(extra) > 0 {
			ls = append(append(make([]string, 0, len(names)+len(extra)), names...), extra...)
		}
		return prometheus.NewDesc(name, help, ls, nil)
	}
	d := &promDescs{
		events:       n(promEvents, helpEvents),
		raw:          n(promEventsRaw, helpEventsRaw),
		enabled:      n(promEnabled, helpEnabled),
		running:      n(promRunning, helpRunning),
		ratio:        n(promRatio, helpRatio),
		up:           n(promUp, helpUp),
		down:         n(promUp, helpUp, promLabelReason),
		notSupported: n(promNotSupported, helpNotSupported, promLabelMessage),
	}
	c.m[key] = d
	return d
}

// NewPromBuildInfoCollector returns a collector of one metric,
// vpmu_build_info{version,revision,goversion} 1, from the binary's
// embedded build information. Register it once per registry, next to
// any number of PromCollectors.
func NewPromBuildInfoCollector() prometheus.Collector {
	version, revision := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && revision != "unknown" {
			revision += "-dirty"
		}
	}
	desc := prometheus.NewDesc(promBuildInfo, helpBuildInfo, nil, prometheus.Labels{
		"version":   version,
		"revision":  revision,
		"goversion": runtime.Version(),
	})
	return constCollector{prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1)}
}

// constCollector collects fixed metrics.
type constCollector []prometheus.Metric

func (c constCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c {
		ch <- m.Desc()
	}
}

func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}
