package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/pmu"
)

// defaultEvents is perf stat's default event set.
var defaultEvents = []string{"task-clock", "context-switches", "cpu-migrations", "page-faults", "cycles", "instructions", "branches", "branch-misses"}

var statUsage = `Usage: vpmu stat [-e SPEC]... [-x SEP | --json] [-o FILE] [-p PID | [--] CMD [ARGS...]]
       vpmu stat --vm [--per-thread] [--per-vcpu] [--vcpus N] [--pcpus M] [--mem SIZE] [--precise] [-e SPEC]... [--] CMD [ARGS...]

Run CMD and count events while it runs, or count the existing process PID
until Ctrl-C or until it exits, then print the counts the way perf stat
does: thousands separators, derived metrics ("insn per cycle", "CPUs
utilized", "of all branches", /sec rates) and "(NN.NN%)" for multiplexed
counts. An event that cannot be counted here is shown as <not supported>,
and a note says why; it is never shown as 0.

Flags:

  -e, --event SPEC            events to count, in perf's syntax: names and
                              aliases with :ukhGH modifiers, {a,b} groups,
                              raw rNNNN, pmu/term=value,.../; repeatable;
                              see 'vpmu list'. Default:
                              ` + strings.Join(defaultEvents[:4], ",") + `,
                              ` + strings.Join(defaultEvents[4:], ",") + `
  -x, --field-separator SEP   print CSV with fields separated by SEP, in
                              perf's order: value, unit, event, run time,
                              percent running, metric value, metric unit
  -j, --json                  print one JSON object per event with perf's
                              keys, and a summary object last
  -o, --output FILE           write the counts to FILE instead of stderr
  -p, --pid PID               count the existing process PID (all of its
                              threads) until Ctrl-C or until it exits
      --vm                    run CMD in the vpmu hypervisor (with vpmu's
                              environment) and count it with the virtual PMU,
                              from its first instruction, in every thread
                              (docs/vpmu.md). Default events:
                              ` + strings.Join(vmDefaultEvents[:4], ",") + `,
                              ` + strings.Join(vmDefaultEvents[4:], ",") + `
      --per-thread            (with --vm) one row per guest thread and event,
                              then the VM totals
      --per-vcpu              (with --vm) one row per VCPU and event, then the
                              VM totals
      --vcpus N               (with --vm) virtual CPUs (default 1)
      --pcpus M               (with --vm) PCPU slots the VCPUs share (default:
                              as many as VCPUs, at most the host's CPUs)
      --mem SIZE              (with --vm) cap on guest memory: 512M, 2G, ...
                              (default 2G)
      --precise               (with --vm) count instructions and branches
                              exactly by single-stepping every thread: tens of
                              microseconds per instruction
  -h, --help                  show this help

The counts go to stderr, like perf's, so CMD's own output stays on stdout.

Exit status: CMD's exit status (128+N when a signal N killed it), 0 with
-p, 1 for a usage or setup error.
`

var statCommand = &command{
	name:    "stat",
	summary: "count events while a command runs, like perf stat",
	usage:   statUsage,
	run:     runStat,
}

// statOptions are vpmu stat's parsed flags and arguments.
type statOptions struct {
	events  stringList
	sep     string
	sepSet  bool // -x was given
	json    bool
	output  string
	pidText string // -p's value as given
	pidFlag string // how -p was spelled ("-p", "--pid"), "" when absent
	pid     int
	command []string

	vm, perThread, perVCPU bool
	vmf                    vmFlags
}

func parseStatFlags(args []string) (*statOptions, error) {
	o := &statOptions{}
	fs := newFlagSet("stat")
	for _, n := range []string{"e", "event"} {
		fs.Var(&o.events, n, "")
	}
	for _, n := range []string{"x", "field-separator"} {
		fs.StringVar(&o.sep, n, "", "")
	}
	for _, n := range []string{"j", "json"} {
		fs.BoolVar(&o.json, n, false, "")
	}
	for _, n := range []string{"o", "output"} {
		fs.StringVar(&o.output, n, "", "")
	}
	for _, n := range []string{"p", "pid"} {
		fs.StringVar(&o.pidText, n, "", "")
	}
	fs.BoolVar(&o.vm, "vm", false, "")
	fs.BoolVar(&o.perThread, "per-thread", false, "")
	fs.BoolVar(&o.perVCPU, "per-vcpu", false, "")
	o.addVMFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "x", "field-separator":
			o.sepSet = true
		case "p", "pid":
			o.pidFlag = "-" + f.Name
			if len(f.Name) > 1 {
				o.pidFlag = "-" + o.pidFlag
			}
		}
	})
	o.command = fs.Args()
	if err := o.validateVM(fs); err != nil {
		return nil, err
	}
	return o, o.validate()
}

// validate checks the combination of flags and arguments.
func (o *statOptions) validate() error {
	if o.sepSet && o.json {
		return usagef("-x and --json cannot be used together")
	}
	if o.sepSet {
		if err := exporters.CheckSeparator(o.sep); err != nil {
			return usagef("-x: %v", err)
		}
	}
	if o.pidFlag != "" {
		pid, err := strconv.Atoi(o.pidText)
		if err != nil || pid <= 0 {
			return usagef("%s: bad process id %q: want a positive number", o.pidFlag, o.pidText)
		}
		o.pid = pid
		if len(o.command) > 0 {
			return usagef("%s and a command cannot be used together (got command %q)", o.pidFlag, strings.Join(o.command, " "))
		}
		return nil
	}
	if len(o.command) == 0 {
		return usagef("nothing to count: give a command (vpmu stat [flags] -- CMD ARGS) or -p PID")
	}
	return nil
}

// spec resolves the -e flags, or the default events, into one spec.
func (o *statOptions) spec(c Catalog) (pmu.Spec, error) {
	return parseEventFlags(c, o.events, defaultEvents)
}

// parseEventFlags parses each -e flag on its own, so that an error points
// into the flag the user wrote, and joins them into one spec; with no -e
// it parses the defaults.
func parseEventFlags(c Catalog, texts stringList, defaults []string) (pmu.Spec, error) {
	if len(texts) == 0 {
		texts = stringList{strings.Join(defaults, ",")}
	}
	var all pmu.Spec
	for _, t := range texts {
		s, err := c.ParseSpec(t)
		if err != nil {
			return pmu.Spec{}, err
		}
		all.Groups = append(all.Groups, s.Groups...)
	}
	return all, nil
}

func runStat(env *Env, args []string) int {
	o, err := parseStatFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, statUsage)
		return exitOK
	}
	if err != nil {
		return env.fail("stat", err)
	}
	if o.vm {
		return runStatVM(env, o)
	}
	if env.Catalog == nil {
		return env.fail("stat", fmt.Errorf("no event catalog: %w", ErrNotWired))
	}
	spec, err := o.spec(env.Catalog)
	if err != nil {
		return env.failSpec("stat", err)
	}
	var (
		rep  *exporters.Report
		code int
	)
	if o.pid > 0 {
		rep, err = attachAndCount(env, spec, o.pid)
	} else {
		rep, code, err = launchAndCount(env, spec, o.command)
	}
	if err != nil {
		return env.fail("stat", err)
	}
	if err := o.write(env, rep); err != nil {
		return env.fail("stat", err)
	}
	return code
}

// failSpec prints an event spec error with a caret under the offending
// token.
func (env *Env) failSpec(name string, err error) int {
	var se *pmu.SpecError
	if !errors.As(err, &se) {
		return env.fail(name, err)
	}
	fmt.Fprintf(env.Stderr, "vpmu %s: %v\n", name, err)
	for _, l := range strings.Split(se.Caret(), "\n") {
		fmt.Fprintf(env.Stderr, "    %s\n", l)
	}
	fmt.Fprintf(env.Stderr, "Run 'vpmu list' for the events known here.\n")
	return exitError
}

// write prints the report in the chosen format to -o FILE or stderr.
func (o *statOptions) write(env *Env, rep *exporters.Report) (err error) {
	var w io.Writer = env.Stderr
	if o.output != "" {
		f, err := env.Create(o.output)
		if err != nil {
			return fmt.Errorf("-o: %w", err)
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("-o: %w", cerr)
			}
		}()
		w = f
	}
	switch {
	case o.json:
		err = rep.WriteJSON(w)
	case o.sepSet:
		err = rep.WriteCSV(w, o.sep)
	default:
		err = rep.WriteTable(w)
	}
	if err != nil {
		return fmt.Errorf("write counts: %w", err)
	}
	return nil
}
