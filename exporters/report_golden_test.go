package exporters

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			r := f.report()
			var table, csv, js bytes.Buffer
			if err := r.WriteTable(&table); err != nil {
				t.Fatalf("WriteTable: %v", err)
			}
			if err := r.WriteCSV(&csv, ","); err != nil {
				t.Fatalf("WriteCSV: %v", err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatalf("WriteJSON: %v", err)
			}
			golden(t, f.name+".table.golden", table.Bytes())
			golden(t, f.name+".csv.golden", csv.Bytes())
			golden(t, f.name+".json.golden", js.Bytes())
		})
	}
}
