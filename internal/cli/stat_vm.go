package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
)

// vmDefaultEvents is what vpmu stat --vm counts without -e: the VM's own
// sources, and the hardware events a host PMU or --precise can count.
var vmDefaultEvents = []string{"task-clock", "context-switches", "cpu-migrations", "page-faults",
	"syscalls", "vm-exits", "instructions", "branches"}

// vmFlags are vpmu stat's flags for --vm.
type vmFlags struct {
	vcpus, pcpus int
	mem          string
	memBytes     uint64
	precise      bool
}

// addVMFlags registers the --vm flags on fs.
func (o *statOptions) addVMFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.vmf.vcpus, "vcpus", 0, "")
	fs.IntVar(&o.vmf.pcpus, "pcpus", 0, "")
	fs.StringVar(&o.vmf.mem, "mem", "", "")
	fs.BoolVar(&o.vmf.precise, "precise", false, "")
}

// validateVM checks the --vm flags and their combinations.
func (o *statOptions) validateVM(fs *flag.FlagSet) error {
	if !o.vm {
		var err error
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "per-thread", "per-vcpu", "vcpus", "pcpus", "mem", "precise":
				if err == nil {
					err = usagef("--%s counts in the vpmu hypervisor: it needs --vm", f.Name)
				}
			}
		})
		return err
	}
	if o.pidFlag != "" {
		return usagef("--vm runs a command in the vpmu hypervisor; it cannot attach to %s", o.pidFlag)
	}
	if o.vmf.vcpus < 0 || o.vmf.vcpus > hypervisor.MaxVCPUs {
		return usagef("--vcpus %d: want 1 to %d", o.vmf.vcpus, hypervisor.MaxVCPUs)
	}
	if o.vmf.pcpus < 0 {
		return usagef("--pcpus %d: want at least 1", o.vmf.pcpus)
	}
	if o.vmf.mem != "" {
		n, err := parseVMMem(o.vmf.mem)
		if err != nil {
			return usagef("--mem %q: %v", o.vmf.mem, err)
		}
		o.vmf.memBytes = n
	}
	return nil
}

// parseVMMem parses a memory size: a number of bytes with an optional
// K, M, G or T suffix (powers of 1024, an optional trailing B or iB).
func parseVMMem(s string) (uint64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "B"), "I")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil || v == 0 {
		return 0, errors.New("want a positive size such as 512M or 2G")
	}
	if v > (1<<63)>>shift {
		return 0, errors.New("too large")
	}
	return v << shift, nil
}

// runStatVM runs the command in the vpmu hypervisor with the spec opened
// on its first thread, inherited by all, and prints the counts.
func runStatVM(env *Env, o *statOptions) int {
	texts := o.events
	if len(texts) == 0 {
		texts = stringList{strings.Join(vmDefaultEvents, ",")}
	}
	var spec pmu.Spec
	for _, t := range texts {
		s, err := pmu.ParseSpec(t, nil)
		if err != nil {
			return env.failSpec("stat", err)
		}
		spec.Groups = append(spec.Groups, s.Groups...)
	}
	rep, calib, code, err := statVM(env, o, spec)
	if err != nil {
		return env.fail("stat", err)
	}
	if err := o.write(env, rep); err != nil {
		return env.fail("stat", err)
	}
	if !o.json && !o.sepSet {
		writeCalibrationNote(env.Stderr, calib)
	}
	return code
}

// statVM runs argv in a VM counting spec and returns the report, the
// calibration and the guest's shell exit status.
func statVM(env *Env, o *statOptions, spec pmu.Spec) (*exporters.Report, hypervisor.Calibration, int, error) {
	var calib hypervisor.Calibration
	path, err := exec.LookPath(o.command[0])
	if err != nil {
		return nil, calib, 0, fmt.Errorf("cannot run command: %w", err)
	}
	vm, err := hypervisor.New(hypervisor.Config{
		VCPUs: o.vmf.vcpus, PCPUs: o.vmf.pcpus, MemBytes: o.vmf.memBytes,
		Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr, Env: os.Environ(),
		VPMU: hypervisor.VPMUConfig{Spec: spec, Precise: o.vmf.precise},
	})
	if err != nil {
		return nil, calib, 0, fmt.Errorf("start the vpmu hypervisor: %w", err)
	}
	defer vm.Close()

	ctx, cancel := env.signalContext(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()

	start := env.Now()
	st, runErr := vm.Run(ctx, path, o.command)
	elapsed := env.Now().Sub(start)
	var crash *hypervisor.GuestCrash
	switch {
	case errors.As(runErr, &crash):
		fmt.Fprintf(env.Stderr, "vpmu stat: %v\n", runErr)
	case runErr != nil:
		return nil, calib, 0, fmt.Errorf("run %s in the vpmu hypervisor: %w", o.command[0], runErr)
	}
	counts := vm.VPMU().Counts()
	exit := exporters.ExitStatus{Code: st.Code, Signal: st.Signal}
	rep := vmReport(counts, o.perThread, o.perVCPU)
	rep.Target = exporters.Target{Command: o.command, Desc: "'" + strings.Join(o.command, " ") + "' in the vpmu VM"}
	rep.Elapsed = elapsed
	rep.Exit = &exit
	return rep, counts.Calibration, st.Int(), nil
}

// vmReport turns the virtual PMU's counts into report rows: per thread
// and per VCPU when asked, then the VM totals. Events the VM cannot count
// appear once, in the totals, with the reason.
func vmReport(c hypervisor.VPMUCounts, perThread, perVCPU bool) *exporters.Report {
	rep := &exporters.Report{}
	row := func(labels []exporters.Label, i int, v pmu.Value) exporters.Row {
		// The VM never multiplexes: a counter runs whenever it is
		// enabled, also in a thread that never entered guest mode.
		v.Running = max(v.Running, 1)
		v.Enabled = max(v.Enabled, v.Running)
		return exporters.Row{Labels: labels, Event: c.Events[i].String(), Value: v}
	}
	if perThread {
		for _, th := range c.Threads {
			for i, v := range th.Values {
				if c.Errs[i] == nil {
					rep.Rows = append(rep.Rows, row(exporters.ThreadLabels(th.TID, th.Comm), i, v))
				}
			}
		}
	}
	if perVCPU {
		for _, vc := range c.VCPUs {
			for i, v := range vc.Values {
				if c.Errs[i] == nil {
					rep.Rows = append(rep.Rows, row([]exporters.Label{exporters.VCPULabel(vc.VCPU)}, i, v))
				}
			}
		}
	}
	for i, v := range c.Total {
		if c.Errs[i] != nil {
			rep.Rows = append(rep.Rows, exporters.Row{Event: c.Events[i].String(), Value: pmu.Value{Event: c.Events[i]}, Err: c.Errs[i]})
			continue
		}
		rep.Rows = append(rep.Rows, row(nil, i, v))
	}
	return rep
}

// writeCalibrationNote says how guest time was measured.
func writeCalibrationNote(w io.Writer, c hypervisor.Calibration) {
	us := func(ticks uint64) string {
		return fmt.Sprintf("%.1f µs", float64(c.Nanos(ticks))/float64(time.Microsecond))
	}
	fmt.Fprintf(w, "Guest time is the TSC while a thread runs in guest mode (%.3f MHz, %s), less the cost of\n",
		float64(c.TSCKHz)/1000, c.TSCKHzSource)
	fmt.Fprintf(w, "entering and leaving it, calibrated at VM start over %d round trips: entry %s, exit %s (means).\n",
		c.Samples, us(c.EntryTicks), us(c.ExitTicks))
	if c.Warning != "" {
		fmt.Fprintf(w, "Calibration warning: %s.\n", c.Warning)
	}
	fmt.Fprintf(w, "See docs/vpmu.md for what each count means.\n\n")
}
