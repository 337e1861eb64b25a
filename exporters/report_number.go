package exporters

import (
	"strconv"
	"strings"
)

// Texts perf prints in place of a count.
const (
	textNotSupported = "<not supported>"
	textNotCounted   = "<not counted>"
)

// countStyle says how a row's count is shown.
type countStyle struct {
	// value is the number to show: the scaled count, converted to msec
	// for clock events.
	value float64
	// exact is the unscaled integer count when value is exactly Raw
	// (no multiplexing, no sysfs scale, not a clock), so that counts
	// beyond 2^53 print exactly.
	exact   uint64
	isExact bool
	// decimals is 2 for clocks and sysfs-scaled events, else 0.
	decimals int
	// unit is "msec" for clocks, the sysfs unit for PMU events, else "".
	unit string
}

// style computes how a row's count is shown. It is meaningful only for
// counted rows, except unit, which is known for every row.
func (r *Row) style() countStyle {
	e := r.Value.Event
	var st countStyle
	switch {
	case isClock(e):
		st.unit, st.decimals = "msec", 2
	case e.Unit != "":
		st.unit, st.decimals = e.Unit, 2
	}
	if r.state() != stateCounted {
		return st
	}
	v, _ := r.Value.Scaled()
	switch {
	case st.unit == "msec":
		st.value = v / 1e6
	case st.decimals == 0 && r.Value.Running >= r.Value.Enabled && (e.Scale == 0 || e.Scale == 1):
		st.value, st.exact, st.isExact = v, r.Value.Raw, true
	default:
		st.value = v
	}
	return st
}

// plain formats the count without grouping ("1234", "1.32"), as perf's
// CSV does.
func (st countStyle) plain() string {
	if st.isExact {
		return strconv.FormatUint(st.exact, 10)
	}
	return strconv.FormatFloat(st.value, 'f', st.decimals, 64)
}

// grouped formats the count with thousands separators ("1,234,567",
// "1,234.56"), as perf's table does.
func (st countStyle) grouped() string { return groupThousands(st.plain()) }

// groupThousands inserts commas every three digits into the integer part
// of a formatted decimal number. Input that is not a plain number is
// returned unchanged.
func groupThousands(s string) string {
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	sign := ""
	if strings.HasPrefix(intPart, "-") {
		sign, intPart = "-", intPart[1:]
	}
	if len(intPart) <= 3 {
		return s
	}
	for _, c := range intPart {
		if c < '0' || c > '9' {
			return s
		}
	}
	var b strings.Builder
	b.Grow(len(s) + len(intPart)/3)
	b.WriteString(sign)
	head := len(intPart) % 3
	if head > 0 {
		b.WriteString(intPart[:head])
	}
	for i := head; i < len(intPart); i += 3 {
		if b.Len() > len(sign) {
			b.WriteByte(',')
		}
		b.WriteString(intPart[i : i+3])
	}
	b.WriteString(frac)
	return b.String()
}

// pcntRunning is perf's "% of measurement time running": 100 when the
// counter was never enabled (so an unopened event reads 100.00, as in
// perf's CSV).
func pcntRunning(r *Row) float64 {
	if r.Value.Enabled <= 0 {
		return 100
	}
	return 100 * float64(r.Value.Running) / float64(r.Value.Enabled)
}

// multiplexed reports whether the table shows "(NN.NN%)" for the row.
func multiplexed(r *Row) bool {
	return r.state() == stateCounted && r.Value.Running < r.Value.Enabled
}

// countText is what the count column shows for a row.
func countText(r *Row, st countStyle) string {
	switch r.state() {
	case stateNotSupported:
		return textNotSupported
	case stateNotCounted:
		return textNotCounted
	}
	return st.grouped()
}
