package profiler_test

import (
	"context"
	"log"
	"os"
	"os/exec"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
	"github.com/vpmu/vpmu/profiler"
	"github.com/vpmu/vpmu/profiler/symbolize"
)

// ExampleNewPerfStream profiles a command with perf_event sampling: the
// command is held before exec, sampled from its first instruction on
// every CPU, and its records are fed through a PerfStream into a
// Builder. (vpmu record does this, with flags, fallbacks and signals.)
// The binary's main must call perfevent.MaybeRunTrampoline first.
func ExampleNewPerfStream() {
	cmd := exec.Command("/bin/sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done")
	held, err := perfevent.StartStopped(cmd)
	if err != nil {
		log.Fatal(err)
	}
	cpuClock := pmu.Event{Name: "cpu-clock", Kind: pmu.KindSoftware, Type: 1, Config: 0}
	sm, err := perfevent.New().OpenSampler(pmu.Group{Events: []pmu.Event{cpuClock}}, held.Target(),
		perfevent.SampleConfig{Freq: 1000, Mmap: true, Comm: true, Task: true})
	if err != nil {
		held.Abort()
		held.Wait()
		log.Fatal(err)
	}
	defer sm.Close()
	stream := profiler.NewPerfStream(0, sm)
	defer stream.Close()
	b, err := profiler.NewBuilder(profiler.Options{
		Event:      "cpu-clock",
		Symbolizer: symbolize.New(symbolize.Options{KallsymsPath: "/proc/kallsyms"}),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := held.Release(); err != nil {
		log.Fatal(err)
	}
	go func() {
		held.Wait()
		stream.Stop() // the command is gone: read what is left, then end
	}()
	// Record ends when the stream does: at the command's exit.
	if _, err := profiler.Record(context.Background(), stream, b, profiler.RecordOptions{}); err != nil {
		log.Fatal(err)
	}
	if err := b.Write(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
