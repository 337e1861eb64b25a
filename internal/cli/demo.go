package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
)

var demoUsage = `Usage: vpmu demo [--threads N] [--vcpus N] [--pcpus M] [-o FILE]

Run a built-in multi-threaded Go workload inside the vpmu hypervisor (this
vpmu binary runs itself as the guest): N threads on fewer VCPUs, which
share fewer PCPUs. Each thread makes a known number of system calls and
some computation, and reads its own counters through guestlib, directly
from its state page. Then vpmu prints the virtual PMU's per-thread table
and explains each number. The VMM also samples the guest, as 'vpmu record
--vm -g' does, and writes the profile for 'go tool pprof'.

Flags:

      --threads N   worker threads (default 6)
      --vcpus N     virtual CPUs (default 2)
      --pcpus M     PCPU slots the VCPUs share (default 1)
  -o, --output FILE where the profile goes (default ` + defaultDemoProfile + ` in the
                    current directory, or in the temporary directory when
                    the current one is not writable)
  -h, --help        show this help
`

var demoCommand = &command{
	name:    "demo",
	summary: "run a multi-threaded workload in the vpmu hypervisor and explain its counters",
	usage:   demoUsage,
	run:     runDemo,
}

// demoSpec is what the VMM counts for the demo's table.
const demoSpec = "task-clock,syscalls,context-switches,cpu-migrations,vm-exits,page-faults"

type demoOptions struct {
	threads, vcpus, pcpus int
	guest                 string // the binary to run as the guest (default: this one)
	// profile is where the guest's profile goes (demo_profile.go);
	// profileGiven says -o named it.
	profile      string
	profileGiven bool
}

func runDemo(env *Env, args []string) int {
	o := demoOptions{}
	fs := newFlagSet("demo")
	fs.IntVar(&o.threads, "threads", 6, "")
	fs.IntVar(&o.vcpus, "vcpus", 2, "")
	fs.IntVar(&o.pcpus, "pcpus", 1, "")
	fs.StringVar(&o.guest, "guest-binary", "", "")
	for _, n := range []string{"o", "output"} {
		fs.StringVar(&o.profile, n, defaultDemoProfile, "")
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.Stdout, demoUsage)
			return exitOK
		}
		return env.fail("demo", err)
	}
	switch {
	case len(fs.Args()) > 0:
		return env.fail("demo", usagef("unexpected arguments %q", fs.Args()))
	case o.threads < 1 || o.threads > 32:
		return env.fail("demo", usagef("--threads %d: want 1 to 32", o.threads))
	case o.vcpus < 1 || o.vcpus > hypervisor.MaxVCPUs:
		return env.fail("demo", usagef("--vcpus %d: want 1 to %d", o.vcpus, hypervisor.MaxVCPUs))
	case o.pcpus < 1:
		return env.fail("demo", usagef("--pcpus %d: want at least 1", o.pcpus))
	case o.profile == "":
		return env.fail("demo", usagef("-o: empty file name"))
	}
	fs.Visit(func(f *flag.Flag) { o.profileGiven = o.profileGiven || f.Name == "o" || f.Name == "output" })
	if o.guest == "" {
		exe, err := os.Executable()
		if err != nil {
			return env.fail("demo", fmt.Errorf("find the vpmu binary to run as the guest: %w", err))
		}
		o.guest = exe
	}
	if err := demo(env, o); err != nil {
		return env.fail("demo", err)
	}
	return exitOK
}

func demo(env *Env, o demoOptions) error {
	prof, err := newDemoProfile(o.profile, o.profileGiven)
	if err != nil {
		return err
	}
	var guestOut bytes.Buffer
	vm, err := hypervisor.New(hypervisor.Config{
		VCPUs: o.vcpus, PCPUs: o.pcpus, Stdout: &guestOut, Stderr: env.Stderr,
		// No asynchronous preemption: its signal, and the runtime's
		// rt_sigreturn after it, would be counted inside the regions the
		// workers measure.
		Env:  []string{"GODEBUG=asyncpreemptoff=1"},
		VPMU: hypervisor.VPMUConfig{Spec: pmu.MustParseSpec(demoSpec), Sampling: prof.sampling()},
	})
	if err != nil {
		return fmt.Errorf("start the vpmu hypervisor: %w", err)
	}
	defer vm.Close()
	fmt.Fprintf(env.Stdout, "vpmu demo: %d worker threads of a Go program (this vpmu binary, as the guest) on %s sharing %s (%s host).\n\n",
		o.threads, plural(o.vcpus, "VCPU"), plural(o.pcpus, "PCPU slot"), vm.Host().Kind)
	ctx, cancel := env.signalContext(os.Interrupt, syscall.SIGTERM)
	defer cancel()
	start := env.Now()
	if err := prof.start(vm, start); err != nil {
		return err
	}
	defer prof.stop() // when the run fails
	st, err := vm.Run(ctx, o.guest, []string{"vpmu", "__demo-guest", "--threads", strconv.Itoa(o.threads)})
	elapsed := env.Now().Sub(start)
	if err != nil {
		return fmt.Errorf("the demo guest failed: %w", err)
	}
	if st.Int() != 0 {
		return fmt.Errorf("the demo guest exited with %v", st)
	}
	counts := vm.VPMU().Counts()
	fmt.Fprintf(env.Stdout, "What each worker read about itself through guestlib, around its own work:\n%s\n", guestOut.String())
	rep := vmReport(counts, true, false)
	rep.Target.Desc = "every thread of the demo guest"
	rep.Elapsed = elapsed
	if err := rep.WriteTable(env.Stdout); err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, demoExplanation(counts))
	return prof.finish(env, elapsed, vm.VPMU().SamplingStats())
}

// demoExplanation says what each number of the demo means.
func demoExplanation(c hypervisor.VPMUCounts) string {
	cal := c.Calibration
	us := func(t uint64) string { return fmt.Sprintf("%.1f µs", float64(cal.Nanos(t).Nanoseconds())/1000) }
	var b strings.Builder
	fmt.Fprintf(&b, `What the numbers mean:

  task-clock        guest time of the thread: the TSC while it ran in guest mode, less the
                    cost of entering and leaving the VM, calibrated at VM start (entry %s,
                    exit %s here). Time the thread waited, or the VMM worked, is not in it.
  syscalls          system calls the thread made. There is no guest kernel: each one exits
                    to the VMM, which implements the Linux system-call ABI. Exact.
  context-switches  times the VMM took the thread off its VCPU: it blocked (futex, sleep),
                    yielded, or its time slice ended while another thread waited. Exact.
  cpu-migrations    times the thread came back on another VCPU than the one it left. Exact.
  vm-exits          every return from KVM_RUN while the thread ran: its system calls, its
                    faults, and the scheduler's kicks. Exact.
  page-faults       guest page faults the VMM handled: none for a healthy program, as the
                    VMM maps memory before it is touched. Exact.

The workers read their counters directly from their state pages, with no system call
and no VM exit, so each counted exactly the system calls it made between its two reads.
The table covers each thread's whole life, the Go runtime's own system calls included
(thread start, futex waits, exit), and its rows add up to the totals.
`, us(cal.EntryTicks), us(cal.ExitTicks))
	return b.String()
}

// plural writes n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
