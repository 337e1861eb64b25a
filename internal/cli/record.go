package cli

import (
	"errors"
	"flag"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Defaults of vpmu record, perf record's.
const (
	defaultRecordEvent  = "cycles"
	fallbackRecordEvent = "cpu-clock"
	defaultRecordFreq   = 4000
	defaultRecordOutput = "vpmu.pb.gz"
)

var recordUsage = `Usage: vpmu record [-e EVENT] [-c PERIOD | -F HZ] [-g] [-o FILE] [-m PAGES] [-p PID | [--] CMD [ARGS...]]
       vpmu record --vm [--vcpus N] [--pcpus M] [--mem SIZE] [--rw DIR]... [--precise]
                   [-e EVENT] [-c PERIOD | -F HZ] [-g] [-o FILE] [--] PROG [ARGS...]

Run CMD, or attach to the existing process PID until Ctrl-C or until it
exits, and sample where it spends EVENT: every PERIOD events (-c), or
about HZ times a second (-F), the kernel interrupts the thread and records
its instruction pointer (and with -g its call stack). The samples are
written as a gzipped pprof profile, named and located from the program's
ELF symbols, DWARF and Go tables, for 'go tool pprof'.

Flags:

  -e, --event EVENT     the event to sample, in perf's syntax (see 'vpmu
                        list'); exactly one. Default: ` + defaultRecordEvent + `, or ` + fallbackRecordEvent + `
                        with a note when this machine cannot count cycles.
                        Without modifiers, an event is sampled in user
                        mode only (EVENT:u), with a note, where kernel mode
                        may not be sampled (perf_event_paranoid)
  -c, --count PERIOD    take a sample every PERIOD events (nanoseconds for
                        cpu-clock and task-clock)
  -F, --freq HZ         take about HZ samples per second of the thread's
                        running time, or "max" for the kernel's maximum
                        (kernel.perf_event_max_sample_rate). Default: ` + strconv.Itoa(defaultRecordFreq) + `
  -g                    record call stacks (the kernel's frame-pointer
                        walk); without -g each sample is one frame
  -o, --output FILE     write the profile to FILE. Default: ` + defaultRecordOutput + `
  -m, --mmap-pages N    ring buffer size per CPU in pages, a power of two.
                        Default: 64 for CMD; for -p, 128 shared among the
                        process's threads, from 64 down to at least 8
  -p, --pid PID         sample every thread of the existing process PID
                        (and threads it creates) until Ctrl-C or its exit
      --vm              run PROG in the vpmu hypervisor (as vpmu run does)
                        and sample it with virtual PMIs. Default event:
                        ` + defaultVMRecordEvent + ` at ` + strconv.Itoa(defaultVMRecordFreq) + ` Hz. -e takes the VMM's
                        own events (task-clock, cpu-clock, ref-cycles,
                        syscalls, vm-exits, ...; docs/profiling.md), not
                        host PMU events; -p and -m do not apply. With
                        --vm also:
      --vcpus N         virtual CPUs (default: the host's CPU count)
      --pcpus M         PCPU slots the VCPUs share (default: the host's
                        CPU count)
      --mem SIZE        cap on the program's memory (default 2G)
      --rw DIR          let the program write beneath DIR; repeatable
      --precise         count instructions and branches exactly, by
                        single-stepping (slow), so that they can be sampled
  -h, --help            show this help

Each sample in the profile has two values: samples/count, and the events
it stands for, EVENT/count (EVENT/nanoseconds for the clock events). View
it with 'go tool pprof -top FILE', which shows the event values; add
-sample_index=samples for the sample counts.

Exit status: CMD's exit status (128+N when a signal N killed it), 0 with
-p, 1 for a usage or setup error, or when recording failed.
`

var recordCommand = &command{
	name:    "record",
	summary: "sample a command into a pprof profile, like perf record",
	usage:   recordUsage,
	run:     runRecord,
}

// recordOptions are vpmu record's parsed flags and arguments.
type recordOptions struct {
	// args are the arguments as given, for the profile's comments.
	args []string

	events     stringList
	countText  string
	freqText   string
	callGraph  bool
	output     string
	pagesText  string
	pidText    string
	vm         bool
	flagNames  map[string]string // canonical name -> how it was spelled
	command    []string
	period     uint64 // -c, 0 when not given
	freq       uint64 // -F, 0 when not given or "max"
	freqMax    bool   // -F max
	mmapPages  int    // -m, 0 when not given
	pid        int    // -p, 0 when not given
	namedEvent bool   // -e was given
	// vmf are the flags of --vm (record_vm.go).
	vmf recordVMFlags
}

func parseRecordFlags(args []string) (*recordOptions, error) {
	o := &recordOptions{args: args, output: defaultRecordOutput, flagNames: map[string]string{}}
	fs := newFlagSet("record")
	for _, n := range []string{"e", "event"} {
		fs.Var(&o.events, n, "")
	}
	for _, n := range []string{"c", "count"} {
		fs.StringVar(&o.countText, n, "", "")
	}
	for _, n := range []string{"F", "freq"} {
		fs.StringVar(&o.freqText, n, "", "")
	}
	fs.BoolVar(&o.callGraph, "g", false, "")
	for _, n := range []string{"o", "output"} {
		fs.StringVar(&o.output, n, defaultRecordOutput, "")
	}
	for _, n := range []string{"m", "mmap-pages"} {
		fs.StringVar(&o.pagesText, n, "", "")
	}
	for _, n := range []string{"p", "pid"} {
		fs.StringVar(&o.pidText, n, "", "")
	}
	fs.BoolVar(&o.vm, "vm", false, "")
	o.addVMFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	canon := map[string]string{"event": "e", "count": "c", "freq": "F", "output": "o", "mmap-pages": "m", "pid": "p"}
	fs.Visit(func(f *flag.Flag) {
		name := f.Name
		if c, ok := canon[name]; ok {
			name = c
		}
		spelled := "-" + f.Name
		if len(f.Name) > 1 {
			spelled = "-" + spelled
		}
		o.flagNames[name] = spelled
	})
	o.command = fs.Args()
	return o, o.validate()
}

// flag returns how the flag with canonical one-letter name was spelled.
func (o *recordOptions) flag(name string) string {
	if s, ok := o.flagNames[name]; ok {
		return s
	}
	return "-" + name
}

func (o *recordOptions) given(name string) bool {
	_, ok := o.flagNames[name]
	return ok
}

// validate checks the combination of flags and arguments and converts
// the numbers.
func (o *recordOptions) validate() error {
	if err := o.validateVM(); err != nil {
		return err
	}
	o.namedEvent = len(o.events) > 0
	if o.given("c") && o.given("F") {
		return usagef("%s and %s cannot be used together: give a period or a frequency", o.flag("c"), o.flag("F"))
	}
	if o.given("c") {
		n, err := strconv.ParseUint(o.countText, 0, 64)
		if err != nil || n == 0 {
			return usagef("%s: bad period %q: want a positive number of events", o.flag("c"), o.countText)
		}
		o.period = n
	}
	if o.given("F") {
		if o.freqText == "max" {
			o.freqMax = true
		} else {
			n, err := strconv.ParseUint(o.freqText, 10, 64)
			if err != nil || n == 0 {
				return usagef("%s: bad frequency %q: want a positive number of samples per second, or max", o.flag("F"), o.freqText)
			}
			o.freq = n
		}
	}
	if o.given("m") {
		n, err := strconv.Atoi(o.pagesText)
		if err != nil || n <= 0 || bits.OnesCount(uint(n)) != 1 {
			return usagef("%s: bad ring size %q: want a power of two number of pages (1, 2, 4, ...)", o.flag("m"), o.pagesText)
		}
		o.mmapPages = n
	}
	if o.output == "" {
		return usagef("%s: empty file name", o.flag("o"))
	}
	if o.given("p") {
		pid, err := strconv.Atoi(o.pidText)
		if err != nil || pid <= 0 {
			return usagef("%s: bad process id %q: want a positive number", o.flag("p"), o.pidText)
		}
		o.pid = pid
		if len(o.command) > 0 {
			return usagef("%s and a command cannot be used together (got command %q)", o.flag("p"), strings.Join(o.command, " "))
		}
		return nil
	}
	if len(o.command) == 0 {
		return usagef("nothing to record: give a command (vpmu record [flags] -- CMD ARGS) or -p PID")
	}
	return nil
}

func runRecord(env *Env, args []string) int {
	o, err := parseRecordFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, recordUsage)
		return exitOK
	}
	if err != nil {
		return env.fail("record", err)
	}
	if o.vm {
		return runRecordVM(env, o)
	}
	if env.Catalog == nil {
		return env.fail("record", fmt.Errorf("no event catalog: %w", ErrNotWired))
	}
	if env.OpenSampler == nil {
		return env.fail("record", fmt.Errorf("no sampling backend: %w", ErrNotWired))
	}
	ev, err := o.event(env.Catalog)
	if err != nil {
		return env.failSpec("record", err)
	}
	r := &recorder{env: env, opts: o, event: ev}
	var note string
	r.period, r.freq, note, err = o.sampleRate(readMaxSampleRate())
	if err != nil {
		return env.fail("record", err)
	}
	if note != "" {
		fmt.Fprintf(env.Stderr, "vpmu record: %s\n", note)
	}
	if err := probeOutput(o.output); err != nil {
		return env.fail("record", fmt.Errorf("%s: %w", o.flag("o"), err))
	}
	if o.pid > 0 {
		err = r.attach()
	} else {
		err = r.launch()
	}
	if err != nil {
		return env.fail("record", err)
	}
	return r.code
}
