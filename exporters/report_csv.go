package exporters

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrBadSeparator is returned by WriteCSV for an empty separator or one
// containing a double quote or a line break.
var ErrBadSeparator = errors.New("bad CSV separator")

// WriteCSV writes one line per row in the field order of perf stat -x:
//
//	[labels...] value, unit, event, run time (ns), % running, metric value, metric unit
//
// Labels come first, one field per label kind, as perf puts the thread
// ("sleep-1234") or CPU ("CPU3") first. The value is "<not supported>"
// or "<not counted>" when there is no count; clocks are in msec with
// two decimals, other counts are integers without separators. A field
// that contains sep, a double quote or a line break is quoted with double
// quotes (perf does not quote, which breaks "cpu/event=1,umask=2/" with
// -x,). The footer (elapsed, user, sys) is not written, as in perf.
func (r *Report) WriteCSV(w io.Writer, sep string) error {
	if err := CheckSeparator(sep); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	cols := r.labelColumns()
	ms := r.metrics()
	fields := make([]string, 0, len(cols)+7)
	for i := range r.Rows {
		row := &r.Rows[i]
		fields = fields[:0]
		for _, c := range cols {
			fields = append(fields, labelValue(row.Labels, c, true))
		}
		st := row.style()
		value := st.plain()
		switch row.state() {
		case stateNotSupported:
			value = textNotSupported
		case stateNotCounted:
			value = textNotCounted
		}
		m := ms[i]
		fields = append(fields,
			value,
			st.unit,
			row.Name(),
			strconv.FormatInt(int64(row.Value.Running), 10),
			strconv.FormatFloat(pcntRunning(row), 'f', 2, 64),
			m.Number(),
			m.Unit,
		)
		for j, f := range fields {
			if j > 0 {
				bw.WriteString(sep)
			}
			bw.WriteString(csvQuote(f, sep))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// CheckSeparator returns an error wrapping ErrBadSeparator unless sep can
// separate CSV fields: it must be non-empty and hold no double quote or
// line break.
func CheckSeparator(sep string) error {
	if sep == "" || strings.ContainsAny(sep, "\"\r\n") {
		return fmt.Errorf("%w %q: it must be non-empty and contain no double quote or line break", ErrBadSeparator, sep)
	}
	return nil
}

// csvQuote quotes f when it contains sep, a double quote or a line
// break, doubling inner quotes (RFC 4180).
func csvQuote(f, sep string) string {
	if !strings.Contains(f, sep) && !strings.ContainsAny(f, "\"\r\n") {
		return f
	}
	return `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
}
