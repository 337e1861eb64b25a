package exporters

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// countWidth is the width perf gives the count column (COUNTS_LEN).
const countWidth = 18

// WriteTable writes the report the way perf stat prints it:
//
//	Performance counter stats for 'sleep 1':
//
//	             1.32 msec task-clock        #    0.013 CPUs utilized
//	                2      context-switches  #    1.515 K/sec
//	  <not supported>      cycles
//
//	Not supported (cycles):
//	  no hardware PMU: this machine is a VM without a virtual PMU
//
//	      1.003152025 seconds time elapsed
//
//	      0.002787000 seconds user
//	      0.000000000 seconds sys
//
// Counts have thousands separators; clock events are in msec. A
// multiplexed count is followed by the share of time it ran, "(NN.NN%)".
// Rows with labels start with a column per label ("sleep-1234",
// "VCPU0"). Unlike perf, every event that has no count is explained in a
// note below the table. Lines carry no trailing blanks.
func (r *Report) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "\n Performance counter stats for %s:\n\n", r.Target)
	if len(r.Rows) > 0 {
		if err := r.writeRows(bw); err != nil {
			return err
		}
		bw.WriteByte('\n')
	}
	r.writeNotes(bw)
	fmt.Fprintf(bw, " %17.9f seconds time elapsed\n\n", r.Elapsed.Seconds())
	if r.Usage != nil {
		fmt.Fprintf(bw, " %17.9f seconds user\n", r.Usage.User.Seconds())
		fmt.Fprintf(bw, " %17.9f seconds sys\n\n", r.Usage.Sys.Seconds())
	}
	return bw.Flush()
}

// writeRows renders the counts with tablewriter: no borders, one blank
// between columns, counts right-aligned.
func (r *Report) writeRows(w io.Writer) error {
	cols := r.labelColumns()
	align := make(tw.Alignment, 0, len(cols)+5)
	for range cols {
		align = append(align, tw.AlignLeft)
	}
	align = append(align, tw.AlignRight, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft)

	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off, ShowFooterLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithTrimSpace(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: " ", Overwrite: true}),
		tablewriter.WithAlignment(align),
	)
	ms := r.metrics()
	cells := make([][]string, len(r.Rows))
	for i := range r.Rows {
		row := &r.Rows[i]
		line := make([]string, 0, len(cols)+5)
		for j, c := range cols {
			v := labelValue(row.Labels, c, true)
			if j == 0 {
				v = " " + v // perf indents labeled rows too
			}
			line = append(line, v)
		}
		st := row.style()
		running := ""
		if multiplexed(row) {
			running = fmt.Sprintf(" (%.2f%%)", pcntRunning(row))
		}
		line = append(line,
			fmt.Sprintf("%*s", countWidth, countText(row, st)),
			st.unit, row.Name(), ms[i].Text(), running)
		cells[i] = line
	}
	if err := t.Bulk(cells); err != nil {
		return fmt.Errorf("table rows: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	// tablewriter pads every cell; perf-style output has no trailing
	// blanks, and a column that is empty in every row leaves none.
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if l == "" {
			continue
		}
		if _, err := io.WriteString(w, strings.TrimRight(l, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// note groups the events that share a reason for having no count.
type note struct {
	state  rowState
	reason string
	events []string
}

// notes collects, in row order, one note per distinct (state, reason),
// listing each event once.
func (r *Report) notes() []note {
	var out []note
	index := map[string]int{}
	for i := range r.Rows {
		row := &r.Rows[i]
		st := row.state()
		if st == stateCounted {
			continue
		}
		reason := row.Reason()
		k := fmt.Sprint(st, reason)
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, note{state: st, reason: reason})
		}
		name := row.Name()
		dup := false
		for _, e := range out[j].events {
			dup = dup || e == name
		}
		if !dup {
			out[j].events = append(out[j].events, name)
		}
	}
	return out
}

func (r *Report) writeNotes(w *bufio.Writer) {
	notes := r.notes()
	for _, n := range notes {
		title := "Not supported"
		if n.state == stateNotCounted {
			title = "Not counted"
		}
		fmt.Fprintf(w, " %s (%s):\n   %s\n", title, strings.Join(n.events, ", "), n.reason)
	}
	if len(notes) > 0 {
		w.WriteByte('\n')
	}
}
