package exporters

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// ErrNotCounted is the error of a row whose counter was opened but never
// ran (perf's "<not counted>"): the kernel could not schedule it on the
// PMU, or the target never ran while it was enabled. A Row with a nil Err
// whose Value never ran is reported the same way.
var ErrNotCounted = errors.New("not counted")

// Report is one measurement: what was measured, one row per event (and
// per thread, VCPU or CPU when counts are split), and how long it took.
//
// A Report is plain data. Writing it (WriteTable, WriteCSV, WriteJSON)
// does not modify it, so one Report may be written concurrently to
// several writers.
type Report struct {
	// Target says what was measured.
	Target Target
	// Rows are written in order; the writers do not sort them.
	Rows []Row
	// Elapsed is the wall-clock time of the measurement.
	Elapsed time.Duration
	// Usage is the CPU time the measured command used (from wait4's
	// rusage), or nil when it is not known (an attached process).
	Usage *Usage
	// Exit is how the measured command ended, or nil when vpmu did not
	// launch it.
	Exit *ExitStatus
}

// Target describes what a report measured.
type Target struct {
	// Command is the argv of a launched command.
	Command []string
	// PID is the process counted when vpmu attached to it (-p).
	PID int
	// Desc, when set, replaces the description derived from Command and
	// PID, for example "'prog' in the vpmu VM".
	Desc string
}

// String returns the description perf prints after "Performance counter
// stats for ": "'sleep 1'" or "process id '1234'".
func (t Target) String() string {
	switch {
	case t.Desc != "":
		return t.Desc
	case len(t.Command) > 0:
		return "'" + strings.Join(t.Command, " ") + "'"
	case t.PID != 0:
		return "process id '" + strconv.Itoa(t.PID) + "'"
	}
	return "'unknown target'"
}

// Usage is the CPU time a measured command consumed.
type Usage struct {
	User, Sys time.Duration
}

// ExitStatus is how a measured command ended.
type ExitStatus struct {
	// Code is the exit code when Signal is 0.
	Code int
	// Signal is the signal that killed the command, or 0.
	Signal syscall.Signal
}

// ShellCode is the status a shell would report: Code, or 128+Signal
// when the command was killed by a signal.
func (s ExitStatus) ShellCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// String describes the status: "exit status 3" or "killed by signal
// terminated".
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return "killed by signal " + s.Signal.String()
	}
	return "exit status " + strconv.Itoa(s.Code)
}

// Well-known label names. Rows may carry other names; they are shown as
// name=value.
const (
	LabelTID  = "tid"  // thread id (with LabelComm, shown as comm-tid)
	LabelComm = "comm" // thread command name
	LabelVCPU = "vcpu" // virtual CPU index
	LabelCPU  = "cpu"  // physical CPU number
)

// Label is one dimension a row is split by.
type Label struct {
	Name, Value string
}

// ThreadLabels labels a row with a thread.
func ThreadLabels(tid int, comm string) []Label {
	ls := []Label{{LabelTID, strconv.Itoa(tid)}}
	if comm != "" {
		ls = append(ls, Label{LabelComm, comm})
	}
	return ls
}

// VCPULabel labels a row with a virtual CPU.
func VCPULabel(vcpu int) Label { return Label{LabelVCPU, strconv.Itoa(vcpu)} }

// CPULabel labels a row with a physical CPU.
func CPULabel(cpu int) Label { return Label{LabelCPU, strconv.Itoa(cpu)} }

// Row is one event's result.
type Row struct {
	// Labels split the counts (thread, VCPU, CPU); empty for a total.
	Labels []Label
	// Event is the event as the user wrote it ("cpu-cycles:u"). When
	// empty, Value.Event.String() is used.
	Event string
	// Value is the reading. Value.Event must identify the resolved
	// event even when Err is set: derived metrics use it.
	Value pmu.Value
	// Err is nil for a reading. An error matching pmu.ErrNotSupported
	// makes the row "<not supported>" with the error's reason; any
	// other error (ErrNotCounted, a failed read) makes it
	// "<not counted>".
	Err error
}

// Name returns the event name to print.
func (r *Row) Name() string {
	if r.Event != "" {
		return r.Event
	}
	return r.Value.Event.String()
}

// rowState classifies a row.
type rowState uint8

const (
	stateCounted rowState = iota
	stateNotSupported
	stateNotCounted
)

func (r *Row) state() rowState {
	switch {
	case r.Err != nil && errors.Is(r.Err, pmu.ErrNotSupported):
		return stateNotSupported
	case r.Err != nil || !r.Value.Counted():
		return stateNotCounted
	}
	return stateCounted
}

// Counted reports whether the row holds a count.
func (r *Row) Counted() bool { return r.state() == stateCounted }

// Reason explains why a row has no count, or returns "" for a counted
// row. For a not-supported row it is the source's reason ("no hardware
// PMU: ..."); for a not-counted row the error or a standard explanation.
func (r *Row) Reason() string {
	switch r.state() {
	case stateNotSupported:
		var ns *pmu.NotSupportedError
		if errors.As(r.Err, &ns) && ns.Reason != "" {
			if ns.Err != nil {
				return fmt.Sprintf("%s (%v)", ns.Reason, ns.Err)
			}
			return ns.Reason
		}
		return r.Err.Error()
	case stateNotCounted:
		if r.Err != nil && !errors.Is(r.Err, ErrNotCounted) {
			return r.Err.Error()
		}
		return "enabled but never ran: the PMU had no free counter for it, or the target did not run"
	}
	return ""
}

// labelColumns returns the display columns the rows' labels need, in a
// fixed order: thread, vcpu, cpu, then other names sorted.
func (r *Report) labelColumns() []string {
	seen := map[string]bool{}
	for i := range r.Rows {
		for _, l := range r.Rows[i].Labels {
			seen[labelColumn(l.Name)] = true
		}
	}
	var cols []string
	for _, c := range []string{colThread, LabelVCPU, LabelCPU} {
		if seen[c] {
			cols = append(cols, c)
			delete(seen, c)
		}
	}
	rest := make([]string, 0, len(seen))
	for c := range seen {
		rest = append(rest, c)
	}
	sort.Strings(rest)
	return append(cols, rest...)
}

// colThread is the display column that tid and comm share.
const colThread = "thread"

func labelColumn(name string) string {
	if name == LabelTID || name == LabelComm {
		return colThread
	}
	return name
}

// labelValue returns how a row shows display column col, or "" when
// the row has no such label. The forms follow perf: "comm-tid" for a
// thread, "CPU3" for a CPU; a VCPU is "VCPU3".
func labelValue(labels []Label, col string, prefixed bool) string {
	var tid, comm string
	for _, l := range labels {
		switch {
		case col == colThread && l.Name == LabelTID:
			tid = l.Value
		case col == colThread && l.Name == LabelComm:
			comm = l.Value
		case l.Name == col:
			switch {
			case !prefixed:
				return l.Value
			case col == LabelVCPU:
				return "VCPU" + l.Value
			case col == LabelCPU:
				return "CPU" + l.Value
			}
			return l.Name + "=" + l.Value
		}
	}
	switch {
	case comm != "" && tid != "":
		return comm + "-" + tid
	case tid != "":
		return tid
	}
	return comm
}

// labelKey identifies a row's label set, to pair the rows of one thread
// (or VCPU, CPU) when computing derived metrics.
func labelKey(labels []Label) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = l.Name + "\x00" + l.Value
	}
	sort.Strings(parts)
	return strings.Join(parts, "\x01")
}
