package exporters

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrTargetExited is the error of a Row whose target (a process, a
// thread, a cgroup) is gone. Unlike other row errors it comes with a
// valid Value: the counter's final reading.
var ErrTargetExited = errors.New("target exited")

// PromTarget is one thing a PromCollector reads counters from on each
// scrape: a native process, cgroup or set of CPUs (NewProcessTarget,
// NewCgroupTarget, NewSystemTarget), or a VM, VCPU or guest thread of the
// vpmu hypervisor.
//
// The collector serializes the calls it makes to one target, so an
// implementation need not be safe for concurrent use; it must not be
// read by anything else while the collector holds it.
type PromTarget interface {
	// Info identifies the target. The collector calls it once, when the
	// target is added, and labels every metric of the target with it.
	Info() PromTargetInfo
	// Read reads every counter of the target once and returns one Row
	// per event, and per thread, VCPU or CPU when the counts are split
	// (Row.Labels: LabelTID and LabelComm, LabelVCPU, LabelCPU, or
	// other names).
	//
	// Values are cumulative since the counters were opened. No two
	// rows may have the same event and labels. The rows
	// should come in the same order on every call (the collector pairs
	// each row with the previous reading of the same event and labels,
	// and is fastest when the order is stable); rows may appear, and
	// rows of an exited thread may stay or go.
	//
	// Row.Err says what a row is: nil for a reading; an error matching
	// pmu.ErrNotSupported for an event that cannot be counted here
	// (Value.Event set, no reading); ErrTargetExited for the final
	// reading of a target that is gone; any other error for a counter
	// that could not be read this time.
	//
	// An error return means that no counter of the target could be
	// read: the collector then reports the target as failed and keeps
	// serving the other targets. ctx carries the collector's read
	// timeout.
	//
	// The collector is done with the returned slice when Collect
	// returns, so a target may reuse it in its next Read.
	Read(ctx context.Context) ([]Row, error)
}

// PromTargetInfo identifies a PromTarget among the collector's targets.
type PromTargetInfo struct {
	// Kind is the value of the "target" label on every metric of the
	// target: "process", "cgroup", "system", "vm".
	Kind string
	// Labels tell targets of one kind apart ({pid="1234"},
	// {cgroup="/jobs/a"}, {vm="web"}); they are added to every metric
	// of the target. Their names must differ from the row labels the
	// target returns and from the collector's own label names (event,
	// target, reason, message).
	Labels []Label
}

// String renders the info the way the collector's errors name a target:
// `process{pid="1234"}`.
func (i PromTargetInfo) String() string {
	var b strings.Builder
	b.WriteString(i.Kind)
	b.WriteByte('{')
	for k, l := range i.Labels {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// Label names the collector itself sets.
const (
	promLabelEvent   = "event"
	promLabelTarget  = "target"
	promLabelReason  = "reason"
	promLabelMessage = "message"
)

var promReserved = map[string]bool{promLabelEvent: true, promLabelTarget: true, promLabelReason: true, promLabelMessage: true}

// Reasons a counter is down: the values of the reason label of
// vpmu_event_up when it is 0. The vocabulary is fixed and small, so the
// label adds at most this many series per counter over time.
const (
	// ReasonNotSupported: the event cannot be counted here (no
	// hardware PMU, no permission, an event the PMU lacks); the
	// detailed reason is in vpmu_event_not_supported_info.
	ReasonNotSupported = "not_supported"
	// ReasonStarved: the counter was enabled but never ran on the PMU
	// since the previous scrape: the kernel multiplexed it out.
	ReasonStarved = "starved"
	// ReasonExited: the process or thread exited (or the cgroup was
	// removed); the counts are final.
	ReasonExited = "exited"
	// ReasonReadError: the counter could not be read.
	ReasonReadError = "read_error"
)

// checkInfo validates a target's identity.
func checkInfo(info PromTargetInfo) error {
	if !prometheusLabelValueOK(info.Kind) || info.Kind == "" {
		return fmt.Errorf("target kind %q: must be a non-empty UTF-8 string", info.Kind)
	}
	seen := map[string]bool{}
	for _, l := range info.Labels {
		if err := checkLabelName(l.Name); err != nil {
			return fmt.Errorf("target %s: %w", info, err)
		}
		if seen[l.Name] {
			return fmt.Errorf("target %s: label %q given twice", info, l.Name)
		}
		seen[l.Name] = true
	}
	return nil
}

// checkLabelName rejects names the collector uses itself and names that
// are not valid Prometheus label names.
func checkLabelName(name string) error {
	if promReserved[name] {
		return fmt.Errorf("label %q is reserved by the collector", name)
	}
	if !validLabelName(name) {
		return fmt.Errorf("label %q is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", name)
	}
	return nil
}

// validLabelName reports whether name is a label name every Prometheus
// version accepts.
func validLabelName(name string) bool {
	if name == "" || strings.HasPrefix(name, "__") {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func prometheusLabelValueOK(v string) bool { return strings.ToValidUTF8(v, "") == v }

// sameIdentity reports whether two targets would produce the same series.
func sameIdentity(a, b PromTargetInfo) bool {
	return a.Kind == b.Kind && labelKey(a.Labels) == labelKey(b.Labels)
}

var _ prometheus.Collector = (*PromCollector)(nil)
