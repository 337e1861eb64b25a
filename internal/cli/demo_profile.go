package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/profiler"
	"github.com/vpmu/vpmu/profiler/symbolize"
)

// The demo's profile: vpmu demo samples its guest the way vpmu record
// --vm does (task-clock at 1000 Hz, with stacks) and writes the profile,
// by default to vpmu-demo.pb.gz in the current directory, as perf and
// vpmu record write theirs there; when the current directory cannot be
// written, to the temporary directory instead.

const (
	defaultDemoProfile = "vpmu-demo.pb.gz"
	demoProfileEvent   = "task-clock"
	demoProfileFreq    = 1000
)

// demoProfile records the demo guest's samples into a profile.
type demoProfile struct {
	path   string
	moved  string // the -o path that could not be written, when path is the fallback
	stream *profiler.VMStream
	b      *profiler.Builder
	done   chan error
}

// newDemoProfile checks where the profile goes. A path given with -o must
// be writable; the default falls back to the temporary directory.
func newDemoProfile(path string, given bool) (*demoProfile, error) {
	d := &demoProfile{path: path, stream: profiler.NewVMStream("vpmu-demo", 0)}
	if err := probeOutput(path); err != nil {
		if given {
			return nil, fmt.Errorf("-o: %w", err)
		}
		d.moved, d.path = path, filepath.Join(os.TempDir(), defaultDemoProfile)
		if err := probeOutput(d.path); err != nil {
			return nil, fmt.Errorf("no place for the demo's profile: %s and %s: %w", path, d.path, err)
		}
	}
	return d, nil
}

// sampling is the VM's sampling configuration for the demo.
func (d *demoProfile) sampling() hypervisor.SamplingConfig {
	return hypervisor.SamplingConfig{Event: pmu.MustParseSpec(demoProfileEvent).Events()[0], Freq: demoProfileFreq,
		Stacks: true, Sink: d.stream}
}

// start begins recording the samples of vm.
func (d *demoProfile) start(vm *hypervisor.VM, start time.Time) error {
	b, err := profiler.NewBuilder(profiler.Options{
		Event: demoProfileEvent, Period: vm.VPMU().SamplingPeriod(), Start: start,
		CommandLine: []string{"vpmu", "demo"},
		Comments:    []string{fmt.Sprintf("sampling: %s at %d Hz in the vpmu hypervisor, with frame-pointer stacks", demoProfileEvent, demoProfileFreq)},
		Symbolizer:  symbolize.New(symbolize.Options{}), Processes: profiler.NewProcesses(false),
	})
	if err != nil {
		return err
	}
	d.b, d.done = b, make(chan error, 1)
	go func() {
		_, err := profiler.Record(context.Background(), d.stream, b, profiler.RecordOptions{Window: -1})
		d.done <- err
	}()
	return nil
}

// stop ends recording without writing the profile, if finish did not
// run.
func (d *demoProfile) stop() {
	if d.done != nil {
		d.stream.Close()
		<-d.done
		d.done = nil
	}
}

// finish ends recording once the VM's run is over, writes the profile
// and says where it is and how to look at it.
func (d *demoProfile) finish(env *Env, elapsed time.Duration, ss hypervisor.SamplingStats) error {
	if d.done == nil {
		return nil
	}
	d.stream.Close()
	err := <-d.done
	d.done = nil
	if err != nil {
		return fmt.Errorf("record the demo's profile: %w", err)
	}
	p, err := d.b.Profile()
	if err != nil {
		return fmt.Errorf("build the demo's profile: %w", err)
	}
	p.DurationNanos = elapsed.Nanoseconds()
	p.Comments = append(p.Comments, samplingComments(ss, true)...)
	if _, err := writeProfile(env, d.path, "-o", p); err != nil {
		return err
	}
	n, _ := d.b.Samples()
	return d.explain(env.Stdout, n)
}

// explain says what the profile holds and how to look at it.
func (d *demoProfile) explain(w io.Writer, samples uint64) error {
	where := d.path
	if d.moved != "" {
		where += fmt.Sprintf(" (%s is not writable here)", d.moved)
	}
	_, err := fmt.Fprintf(w, `
The VMM also sampled the guest: %d samples of task-clock, one every millisecond of each
thread's guest time, taken with virtual PMIs. It kicks the VCPU out of the guest when a
thread's time is up, records where the thread was and walks its frame pointers in guest
memory, and names the code from the guest's binary (this vpmu, as a host file). The
profile is in %s. Look at it with:

  go tool pprof -top %s
  go tool pprof -tagfocus=comm=vpmu -traces %s

`, samples, where, d.path, d.path)
	return err
}
