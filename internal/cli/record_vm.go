package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/profiler"
	"github.com/vpmu/vpmu/profiler/symbolize"
)

// vpmu record --vm: the program runs in the vpmu hypervisor and is
// sampled with virtual PMIs (docs/profiling.md, "Inside the vpmu
// hypervisor").

// Defaults of vpmu record --vm. task-clock is the guest time of each
// thread, in nanoseconds, the VM's counterpart of cpu-clock. 1000 Hz, not
// perf's 4000: each sample of a time event costs a VM exit forced by a
// signal (about 45 µs of guest time on PVM hosts), 4-5% of the guest's
// time at 1000 Hz (docs/PERFORMANCE.md).
const (
	defaultVMRecordEvent = "task-clock"
	defaultVMRecordFreq  = 1000
	// maxVMRecordFreq caps -F with --vm.
	maxVMRecordFreq = 20000
)

// recordVMFlags are vpmu record's flags for --vm.
type recordVMFlags struct {
	vcpus, pcpus int
	mem          string
	memBytes     uint64
	rw           stringList
	precise      bool
}

// vmOnlyFlags are the flags that only mean something with --vm.
var vmOnlyFlags = []string{"vcpus", "pcpus", "mem", "rw", "precise"}

// addVMFlags registers the --vm flags on fs.
func (o *recordOptions) addVMFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.vmf.vcpus, "vcpus", runtime.NumCPU(), "")
	fs.IntVar(&o.vmf.pcpus, "pcpus", runtime.NumCPU(), "")
	fs.StringVar(&o.vmf.mem, "mem", "2G", "")
	fs.Var(&o.vmf.rw, "rw", "")
	fs.BoolVar(&o.vmf.precise, "precise", false, "")
}

// validateVM checks the --vm flags and what --vm excludes.
func (o *recordOptions) validateVM() error {
	if !o.vm {
		for _, n := range vmOnlyFlags {
			if o.given(n) {
				return usagef("--%s runs the command in the vpmu hypervisor: it needs --vm", n)
			}
		}
		return nil
	}
	switch {
	case o.given("p"):
		return usagef("--vm runs a command in the vpmu hypervisor; it cannot attach to %s", o.flag("p"))
	case o.given("m"):
		return usagef("%s sizes the kernel's ring buffers; with --vm the VMM hands samples over directly", o.flag("m"))
	case o.given("F") && o.freqText == "max":
		return usagef("%s max is the kernel's limit for native sampling; with --vm give a rate (at most %d Hz)", o.flag("F"), maxVMRecordFreq)
	case o.vmf.vcpus < 1 || o.vmf.vcpus > hypervisor.MaxVCPUs:
		return usagef("--vcpus %d: want 1 to %d", o.vmf.vcpus, hypervisor.MaxVCPUs)
	case o.vmf.pcpus < 1:
		return usagef("--pcpus %d: want at least 1", o.vmf.pcpus)
	}
	n, err := parseSize(o.vmf.mem)
	if err != nil {
		return usagef("--mem %q: %v", o.vmf.mem, err)
	}
	if n < 1<<20 {
		return usagef("--mem %q: want at least 1M", o.vmf.mem)
	}
	o.vmf.memBytes = n
	for _, d := range o.vmf.rw {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("--rw %s: %w", d, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("--rw %s: not a directory", d)
		}
	}
	return nil
}

// vmEvent resolves -e for --vm (default task-clock) to one event.
func (o *recordOptions) vmEvent() (pmu.Event, error) {
	return o.oneEvent(defaultVMRecordEvent, func(t string) (pmu.Spec, error) { return pmu.ParseSpec(t, nil) })
}

// vmRate returns the sampling period or frequency of --vm.
func (o *recordOptions) vmRate() (period, freq uint64, err error) {
	switch {
	case o.period > 0:
		return o.period, 0, nil
	case o.freq > maxVMRecordFreq:
		return 0, 0, usagef("%s %d: above the VM's maximum of %d samples per second (each sample costs a VM exit)",
			o.flag("F"), o.freq, maxVMRecordFreq)
	case o.freq > 0:
		return 0, o.freq, nil
	}
	return 0, defaultVMRecordFreq, nil
}

// vmRecorder is one vpmu record --vm run.
type vmRecorder struct {
	env   *Env
	opts  *recordOptions
	event pmu.Event
	// period and freq are the sampling rate asked for; one is 0.
	period, freq uint64
	notes        []string
}

func runRecordVM(env *Env, o *recordOptions) int {
	ev, err := o.vmEvent()
	if err != nil {
		return env.failSpec("record", err)
	}
	r := &vmRecorder{env: env, opts: o, event: ev}
	if r.period, r.freq, err = o.vmRate(); err != nil {
		return env.fail("record", err)
	}
	if err := probeOutput(o.output); err != nil {
		return env.fail("record", fmt.Errorf("%s: %w", o.flag("o"), err))
	}
	code, err := r.run()
	if err != nil {
		return env.fail("record", err)
	}
	return code
}

// run records the program and writes the profile; it returns the
// program's shell exit status.
func (r *vmRecorder) run() (int, error) {
	env, o := r.env, r.opts
	path, err := exec.LookPath(o.command[0])
	if err != nil {
		return 0, fmt.Errorf("cannot run command: %w", err)
	}
	stream := profiler.NewVMStream(fmt.Sprintf("vpmu-%d", os.Getpid()), 0)
	vm, err := hypervisor.New(hypervisor.Config{
		VCPUs: o.vmf.vcpus, PCPUs: o.vmf.pcpus, MemBytes: o.vmf.memBytes, RWDirs: o.vmf.rw,
		Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr, Env: os.Environ(),
		Logger: newVMMLogger(env.Stderr, "record"),
		VPMU: hypervisor.VPMUConfig{Precise: o.vmf.precise, Sampling: hypervisor.SamplingConfig{
			Event: r.event, Period: r.period, Freq: r.freq, Stacks: o.callGraph, Sink: stream}},
	})
	if err != nil {
		return 0, vmStartError(err)
	}
	defer vm.Close()
	u := vm.VPMU()
	r.notes = append(r.notes, r.rateNote(u), fmt.Sprintf("in the vpmu hypervisor: %d VCPUs on %d PCPU slots, %s host",
		o.vmf.vcpus, min(o.vmf.pcpus, o.vmf.vcpus), vm.Host().Kind))
	if o.callGraph {
		r.notes = append(r.notes, "call stacks: frame-pointer walks in guest memory (-g)")
	} else {
		r.notes = append(r.notes, "call stacks: none, the sampled instruction only (record with -g for stacks)")
	}
	start := env.Now()
	b, err := profiler.NewBuilder(profiler.Options{
		Event: r.event.String(), Period: u.SamplingPeriod(), Start: start,
		CommandLine: append([]string{"vpmu", "record"}, o.args...), Comments: r.notes,
		Symbolizer: symbolize.New(symbolize.Options{}), Processes: profiler.NewProcesses(false),
	})
	if err != nil {
		return 0, err
	}

	ctx, cancel := env.signalContext(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	type recorded struct {
		st  profiler.RecordStats
		err error
	}
	done := make(chan recorded, 1)
	go func() {
		st, err := profiler.Record(context.Background(), stream, b, profiler.RecordOptions{Window: -1})
		done <- recorded{st, err}
	}()
	status, runErr := vm.Run(ctx, path, o.command)
	elapsed := env.Now().Sub(start)
	stream.Close()
	rec := <-done

	var crash *hypervisor.GuestCrash
	switch {
	case errors.As(runErr, &crash):
		fmt.Fprintf(env.Stderr, "vpmu record: %v\n", runErr)
	case runErr != nil:
		return 0, fmt.Errorf("run %s in the vpmu hypervisor: %w", o.command[0], runErr)
	}
	size, werr := r.write(b, u.SamplingStats(), elapsed)
	r.summary(b, rec.st, stream.Stats(), size)
	if rec.err != nil {
		return 0, fmt.Errorf("recording stopped early (%s has the samples read before): %w", o.output, rec.err)
	}
	return status.Int(), werr
}

// vmStartError explains why the VM could not start: an event it cannot
// sample keeps its *pmu.NotSupportedError, as native record reports it.
func vmStartError(err error) error {
	var ns *pmu.NotSupportedError
	if errors.As(err, &ns) {
		return ns
	}
	return fmt.Errorf("start the vpmu hypervisor: %w", err)
}
