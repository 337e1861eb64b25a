package exporters

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// report100 is a per-thread report of 100 rows: 25 threads of 4 events,
// with metrics, multiplexing and not-supported rows.
func report100() *Report {
	r := &Report{Target: Target{Command: []string{"bench"}}, Elapsed: time.Second, Usage: &Usage{User: time.Second}, Exit: &ExitStatus{}}
	for i := 0; i < 25; i++ {
		ls := ThreadLabels(1000+i, fmt.Sprintf("worker%d", i))
		tc := time.Duration(10+i) * time.Millisecond
		cycles := Row{Labels: ls, Value: muxed(evCycles, uint64(3_000_000*(i+1)), tc, 60)}
		if i%5 == 0 {
			cycles = noPMU(evCycles)
			cycles.Labels = ls
		}
		r.Rows = append(r.Rows,
			Row{Labels: ls, Value: full(evTaskClock, uint64(tc), tc)},
			Row{Labels: ls, Value: full(evCtxSwitches, uint64(i*7), tc)},
			cycles,
			Row{Labels: ls, Value: muxed(evInsns, uint64(5_000_000*(i+1)), tc, 60)},
		)
	}
	return r
}

func BenchmarkWriteTable100(b *testing.B) {
	r := report100()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WriteTable(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteCSV100(b *testing.B) {
	r := report100()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WriteCSV(io.Discard, ","); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteJSON100(b *testing.B) {
	r := report100()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
