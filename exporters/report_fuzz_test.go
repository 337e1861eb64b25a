package exporters

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// FuzzWriteReport feeds arbitrary readings, scales and names to the three
// writers: none may fail or panic, and every JSON line must parse.
func FuzzWriteReport(f *testing.F) {
	f.Add(uint64(1000), int64(2000), int64(1000), uint64(1), uint8(0), 1.0, "cycles", "t", int64(1e9))
	f.Add(uint64(1<<63), int64(1<<62), int64(1), uint64(0), uint8(1), 0.0, "task-clock", "", int64(0))
	f.Add(uint64(0), int64(-5), int64(-1), uint64(3|1<<16), uint8(2), 1e-300, "a,b\"c", "x\ny", int64(-1))
	f.Fuzz(func(t *testing.T, raw uint64, enabled, running int64, config uint64, kind uint8, scale float64, name, comm string, elapsed int64) {
		e := pmu.Event{Name: name, Kind: pmu.Kind(kind%7 + 1), Config: config, Scale: scale}
		if kind&8 != 0 {
			e.Unit = "Joules"
		}
		v := pmu.Value{Event: e, Raw: raw, Enabled: time.Duration(enabled), Running: time.Duration(running)}
		r := &Report{
			Target:  Target{Command: []string{name}},
			Elapsed: time.Duration(elapsed),
			Rows: []Row{
				{Value: v},
				{Value: v, Labels: ThreadLabels(1, comm)},
				{Value: pmu.Value{Event: pmu.Event{Name: "task-clock", Kind: pmu.KindSoftware, Config: 1}, Raw: raw, Enabled: time.Duration(enabled), Running: time.Duration(running)}},
				{Value: v, Err: &pmu.NotSupportedError{Event: name, Reason: comm}},
			},
		}
		var table, csv, js bytes.Buffer
		if err := r.WriteTable(&table); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteCSV(&csv, ","); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(js.String(), "\n"), "\n") {
			if !json.Valid([]byte(l)) {
				t.Fatalf("invalid JSON line: %s", l)
			}
		}
	})
}
