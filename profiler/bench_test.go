package profiler

import (
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/vpmu/vpmu/profiler/symbolize"
)

// benchSamples makes n samples of depth 8 over 2000 distinct addresses
// spread across this test binary's own text, resolved through its real
// /proc/self/maps.
func benchSamples(b *testing.B, n int) (*Processes, []Sample) {
	maps, err := ReadProcMaps(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	procs := NewProcesses(false)
	if err := procs.SetMappings("", os.Getpid(), maps); err != nil {
		b.Fatal(err)
	}
	exe, _ := os.Executable()
	var text Mapping
	for _, m := range maps {
		if m.File == exe && m.Offset > 0 {
			text = m
			break
		}
	}
	if text.File == "" {
		b.Fatalf("no text mapping of %s", exe)
	}
	r := rand.New(rand.NewPCG(1, 2))
	pool := make([]uint64, 2000)
	for i := range pool {
		pool[i] = text.Start + r.Uint64N(text.Limit-text.Start)
	}
	samples := make([]Sample, n)
	for i := range samples {
		stack := make([]uint64, 7)
		for j := range stack {
			stack[j] = pool[r.IntN(len(pool))]
		}
		samples[i] = Sample{IP: pool[r.IntN(len(pool))], Stack: stack, PID: os.Getpid(), TID: os.Getpid() + r.IntN(4), CPU: r.IntN(2), VCPU: -1, Period: 10000}
	}
	return procs, samples
}

// BenchmarkBuild100k adds 100,000 samples and writes the symbolized
// profile, with the binary already opened by the shared Symbolizer.
func BenchmarkBuild100k(b *testing.B) {
	procs, samples := benchSamples(b, 100000)
	sym := symbolize.New(symbolize.Options{})
	b.Run("add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bl, _ := NewBuilder(Options{Event: "cycles", Processes: procs})
			for i := range samples {
				bl.Add(&samples[i])
			}
		}
	})
	b.Run("add+write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bl, _ := NewBuilder(Options{Event: "cycles", Processes: procs, Symbolizer: sym})
			for i := range samples {
				bl.Add(&samples[i])
			}
			if err := bl.Write(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
