package exporters

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"strconv"
)

// jsonRow is one line of WriteJSON. The first group of fields are perf
// stat -j's keys, in perf's order; the rest are vpmu's.
type jsonRow struct {
	Thread       string `json:"thread,omitempty"`
	VCPU         string `json:"vcpu,omitempty"`
	CPU          string `json:"cpu,omitempty"`
	CounterValue string `json:"counter-value"`
	Unit         string `json:"unit"`
	Event        string `json:"event"`
	EventRuntime int64  `json:"event-runtime"`
	PcntRunning  fixed  `json:"pcnt-running"`
	MetricValue  fixed  `json:"metric-value"`
	MetricUnit   string `json:"metric-unit"`

	Labels       map[string]string `json:"labels,omitempty"`
	CounterRaw   *uint64           `json:"counter-raw,omitempty"`
	EventEnabled int64             `json:"event-enabled"`
	NotSupported string            `json:"not-supported-reason,omitempty"`
	NotCounted   string            `json:"not-counted-reason,omitempty"`
}

// jsonSummary is the last line of WriteJSON.
type jsonSummary struct {
	Command        []string `json:"command,omitempty"`
	PID            int      `json:"pid,omitempty"`
	Target         string   `json:"target"`
	ElapsedSeconds fixed    `json:"elapsed-seconds"`
	UserSeconds    *fixed   `json:"user-seconds,omitempty"`
	SysSeconds     *fixed   `json:"sys-seconds,omitempty"`
	ExitStatus     *int     `json:"exit-status,omitempty"`
	ExitSignal     string   `json:"exit-signal,omitempty"`
}

// fixed is a JSON number printed with a fixed number of decimals, the
// way perf prints "pcnt-running" : 100.00.
type fixed struct {
	v    float64
	prec int
}

func (f fixed) MarshalJSON() ([]byte, error) {
	v := f.v
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.AppendFloat(nil, v, 'f', f.prec, 64), nil
}

// WriteJSON writes one JSON object per line for each row, with perf stat
// -j's keys and types:
//
//	{"counter-value":"1.065990","unit":"msec","event":"task-clock","event-runtime":1065990,
//	 "pcnt-running":100.00,"metric-value":0.010431,"metric-unit":"CPUs utilized",...}
//
// counter-value is a string: the count with six decimals (msec for
// clocks), or "<not supported>" / "<not counted>". Labeled rows start
// with perf's "thread" ("sleep-1234") or "cpu" key, or "vcpu". vpmu adds
// "labels" (every label by name), "counter-raw" (the unscaled count),
// "event-enabled" (ns the counter was enabled) and
// "not-supported-reason" or "not-counted-reason".
//
// A last line summarizes the measurement: "target", "command" or "pid",
// "elapsed-seconds", "user-seconds" and "sys-seconds" when known, and
// "exit-status" (a shell status: 128+signal when killed) with
// "exit-signal" when vpmu launched the command. Consumers of perf's
// format can skip it: it has no "event" key.
func (r *Report) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	ms := r.metrics()
	for i := range r.Rows {
		if err := enc.Encode(r.jsonRow(&r.Rows[i], ms[i])); err != nil {
			return err
		}
	}
	if err := enc.Encode(r.jsonSummary()); err != nil {
		return err
	}
	return bw.Flush()
}

func (r *Report) jsonRow(row *Row, m metric) jsonRow {
	st := row.style()
	j := jsonRow{
		Thread:       labelValue(row.Labels, colThread, false),
		VCPU:         labelValue(row.Labels, LabelVCPU, false),
		CPU:          labelValue(row.Labels, LabelCPU, false),
		Unit:         st.unit,
		Event:        row.Name(),
		EventRuntime: int64(row.Value.Running),
		PcntRunning:  fixed{pcntRunning(row), 2},
		MetricValue:  fixed{m.Value, 6},
		MetricUnit:   m.Unit,
		EventEnabled: int64(row.Value.Enabled),
	}
	if len(row.Labels) > 0 {
		j.Labels = make(map[string]string, len(row.Labels))
		for _, l := range row.Labels {
			j.Labels[l.Name] = l.Value
		}
	}
	switch row.state() {
	case stateNotSupported:
		j.CounterValue = textNotSupported
		j.NotSupported = row.Reason()
	case stateNotCounted:
		j.CounterValue = textNotCounted
		j.NotCounted = row.Reason()
	default:
		if st.isExact {
			j.CounterValue = strconv.FormatUint(st.exact, 10) + ".000000"
		} else {
			j.CounterValue = strconv.FormatFloat(st.value, 'f', 6, 64)
		}
		raw := row.Value.Raw
		j.CounterRaw = &raw
	}
	return j
}

func (r *Report) jsonSummary() jsonSummary {
	s := jsonSummary{
		Command:        r.Target.Command,
		PID:            r.Target.PID,
		Target:         r.Target.String(),
		ElapsedSeconds: fixed{r.Elapsed.Seconds(), 9},
	}
	if r.Usage != nil {
		s.UserSeconds = &fixed{r.Usage.User.Seconds(), 9}
		s.SysSeconds = &fixed{r.Usage.Sys.Seconds(), 9}
	}
	if r.Exit != nil {
		code := r.Exit.ShellCode()
		s.ExitStatus = &code
		if r.Exit.Signal != 0 {
			s.ExitSignal = r.Exit.Signal.String()
		}
	}
	return s
}
