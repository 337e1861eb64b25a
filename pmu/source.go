package pmu

import (
	"math"
	"math/bits"
	"time"
)

// Target says what a counter observes. It mirrors the (pid, cpu) pair of
// perf_event_open(2):
//
//	PID > 0, CPU == -1: that thread (or process, with Inherit) on any CPU
//	PID == 0, CPU == -1: the calling thread
//	PID == -1, CPU >= 0: everything on that CPU (needs privilege)
//
// Sources that have no notion of one of the fields (the simulated PMU, the
// vpmu hypervisor) document how they interpret it.
type Target struct {
	PID int
	CPU int
	// Inherit makes threads and processes created after Open count into
	// the same counter (perf_event_attr.inherit).
	Inherit bool
	// EnableOnExec starts the counter disabled and enables it when the
	// target calls execve (perf_event_attr.enable_on_exec); used to
	// count a launched command from its first instruction.
	EnableOnExec bool
	// Disabled opens the counter disabled; Enable starts it.
	Disabled bool
}

// ThisThread is the target of a counter on the calling thread.
var ThisThread = Target{PID: 0, CPU: -1}

// Value is one event's count as read from a counter, with the time the
// counter was enabled and the time it was actually running on the
// hardware (the two differ when the kernel multiplexes events).
type Value struct {
	Event Event
	// Raw is the count as read, not scaled.
	Raw uint64
	// Enabled and Running are perf's total_time_enabled and
	// total_time_running.
	Enabled, Running time.Duration
	// ID is the source's identifier of the event (perf's PERF_FORMAT_ID),
	// or 0.
	ID uint64
}

// Counted reports whether the event ran at all. A value that was never
// scheduled is "<not counted>", never 0.
func (v Value) Counted() bool { return v.Running > 0 }

// Ratio is Running/Enabled: 1 when the event ran all the time it was
// enabled, less when it was multiplexed. It is 0 when the event never ran.
func (v Value) Ratio() float64 {
	if v.Enabled <= 0 || v.Running <= 0 {
		return 0
	}
	if v.Running >= v.Enabled {
		return 1
	}
	return float64(v.Running) / float64(v.Enabled)
}

// Scaled returns Raw extrapolated to the whole enabled time,
// Raw*Enabled/Running, computed without overflow, and then multiplied by
// the event's sysfs scale. ok is false when the event never ran.
func (v Value) Scaled() (count float64, ok bool) {
	if !v.Counted() {
		return 0, false
	}
	c := float64(v.Raw)
	if v.Enabled > v.Running {
		hi, lo := bits.Mul64(v.Raw, uint64(v.Enabled))
		if hi < uint64(v.Running) {
			q, _ := bits.Div64(hi, lo, uint64(v.Running))
			c = float64(q)
		} else {
			c = float64(v.Raw) * (float64(v.Enabled) / float64(v.Running))
		}
	}
	if v.Event.Scale != 0 && v.Event.Scale != 1 {
		c *= v.Event.Scale
	}
	if math.IsInf(c, 0) || math.IsNaN(c) {
		return 0, false
	}
	return c, true
}

// Counter is an open group of events on one target.
//
// A Counter is owned by whoever opened it; its methods are safe to call
// from one goroutine at a time unless the implementation says otherwise.
// Close releases every kernel object it holds and may be called more than
// once.
type Counter interface {
	// Group is the group the counter was opened with.
	Group() Group
	// Read returns one Value per event of the group, in group order,
	// taken as one consistent snapshot where the source allows it.
	Read() ([]Value, error)
	Enable() error
	Disable() error
	Reset() error
	Close() error
}

// Source opens counters. Each backend (Linux perf_event, the simulated
// PMU, the vpmu hypervisor's virtual PMU) is a Source.
type Source interface {
	// Name identifies the source in reports ("perf_event", "sim", "vm").
	Name() string
	// Open opens the group on the target. When an event of the group
	// cannot be counted, Open fails with a *NotSupportedError naming it.
	Open(g Group, t Target) (Counter, error)
}

// Prober is implemented by sources that can tell, without keeping
// anything open, whether an event can be counted here. Probe returns nil
// or a *NotSupportedError with the reason.
type Prober interface {
	Probe(e Event) error
}
