package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
)

var runUsage = `Usage: vpmu run [--vcpus N] [--pcpus M] [--mem SIZE] [--rw DIR]... [--env K=V]...
                [--metrics ADDR [-e SPEC]... [--per-thread] [--precise] [--metrics-linger DURATION]
                [--vm-name NAME]] [--] PROG [ARGS...]

Run the Linux x86-64 program PROG (a static or dynamic ELF executable) in
the vpmu hypervisor, a VMM on /dev/kvm that runs it in guest ring 3 and
implements the Linux system calls itself. Standard input, output and
error pass through; the exit status is the program's.

The program runs in a sandbox: it sees the host file system read-only,
except beneath the directories granted with --rw; it has no network
(socket calls fail with EACCES); its memory is capped by --mem. The first
refusal of each kind is reported on stderr.

Flags:

      --vcpus N     virtual CPUs the program's threads run on (default:
                    the host's CPU count, so that the program sees as
                    many CPUs as it would natively)
      --pcpus M     physical CPU slots the VCPUs share: at most M VCPUs
                    run at once (default: the host's CPU count)
      --mem SIZE    cap on the program's memory, like 512M or 2G (binary
                    units K, M, G, T; default 2G); allocations beyond it
                    fail with ENOMEM
      --rw DIR      let the program write beneath DIR; repeatable
      --env K=V     set K in the program's environment; --env K copies
                    K from vpmu's own; repeatable
  -h, --help        show this help

Metrics (docs/metrics.md):

      --metrics ADDR
                    count the program with the virtual PMU and serve the
                    counts as Prometheus metrics on http://ADDR/metrics
                    while it runs (host:port; "127.0.0.1:0" picks a free
                    port; the address is printed on stderr): per VM and
                    per VCPU, and the VMM's own counts (VM exits by
                    reason, sandbox refusals, calibration)
  -e, --event SPEC  events to count, in perf's syntax; repeatable. Default:
                    ` + strings.Join(vmDefaultEvents[:4], ",") + `,
                    ` + strings.Join(vmDefaultEvents[4:], ",") + `
                    (events the VM cannot count are served as not
                    supported, with the reason, never as 0)
      --per-thread  also one series per guest thread and event (tid and
                    comm labels). Each thread adds 6 series per event; an
                    exited thread's series stay 5 minutes with its final
                    counts (if more than 1024 threads exit between two
                    scrapes, the first of them go at once). Use it for
                    programs with a bounded number of threads
      --precise     count instructions and branches exactly, by
                    single-stepping the program (slow: about 100 times)
      --metrics-linger DURATION
                    after the program ended, keep serving its final counts
                    for DURATION (like 30s) so that Prometheus scrapes them
                    once more; SIGINT, SIGTERM or SIGHUP ends it early (default 0:
                    stop when the program ends)
      --vm-name NAME
                    the vm label of the metrics (default: PROG's file name)

The program's environment holds only PATH (` + defaultGuestPath + `),
HOME and TERM (from vpmu's environment, when set) and what --env sets:
vpmu's own environment does not leak into the sandbox. PROG without a
slash is looked up in vpmu's PATH. The working directory is vpmu's.

A program that crashes is reported with its registers, the faulting
address and the signal.

Exit status: the program's exit status, or 128+N when signal N killed it
(a crash, or vpmu itself interrupted: the program is then killed); 125
when vpmu run itself failed (a bad flag, no KVM); 126 when PROG is not an
executable it can run (not ELF, 32-bit, truncated, a missing
interpreter); 127 when PROG does not exist.
`

var runCommand = &command{
	name:    "run",
	summary: "run a Linux program sandboxed in the vpmu hypervisor",
	usage:   runUsage,
	run:     runRun,
}

// Exit statuses of vpmu run's own failures, as env(1) and container
// runtimes use them.
const (
	exitRunFailed   = 125
	exitCannotExec  = 126
	exitNotFound    = 127
	exitSignalBased = 128
)

func runRun(env *Env, args []string) int {
	o, err := parseRunFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, runUsage)
		return exitOK
	}
	var se *pmu.SpecError
	switch {
	case errors.As(err, &se):
		env.failSpec("run", err)
		return exitRunFailed
	case err != nil:
		env.fail("run", err)
		return exitRunFailed
	}
	prog, code, err := o.resolveProgram()
	if err != nil {
		fmt.Fprintf(env.Stderr, "vpmu run: %v\n", err)
		return code
	}
	cfg := hypervisor.Config{
		VCPUs: o.vcpus, PCPUs: o.pcpus, MemBytes: o.mem, RWDirs: o.rw,
		Env:    o.guestEnv(os.LookupEnv),
		Stdin:  env.Stdin,
		Stdout: env.Stdout,
		Stderr: env.Stderr,
		Logger: newVMMLogger(env.Stderr, "run"),
	}
	if o.metrics.addr != "" {
		cfg.VPMU.Spec, cfg.VPMU.Precise = o.metrics.spec, o.metrics.precise
		// The exporter keeps what it needs of exited threads itself:
		// the virtual PMU keeps few or none, so that a program that
		// creates threads without end does not grow vpmu's memory
		// and scrape time.
		cfg.VPMU.ExitedThreads = exporters.VMExitedThreads(o.metrics.perThread)
	}
	vm, err := hypervisor.New(cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "vpmu run: %v\n", err)
		return exitRunFailed
	}
	defer vm.Close()
	var metrics *runMetrics
	if o.metrics.addr != "" {
		if metrics, err = startRunMetrics(env, &o.metrics, vm, o.argv[0]); err != nil {
			fmt.Fprintf(env.Stderr, "vpmu run: %v\n", err)
			return exitRunFailed
		}
	}

	// A write to vpmu's standard output or error whose reader went away
	// ('vpmu run -- yes | head -1') must fail with EPIPE, which the VMM
	// turns into SIGPIPE and EPIPE for the program, rather than kill
	// vpmu: the Go runtime kills a program on EPIPE from fd 1 or 2
	// unless SIGPIPE is notified.
	pipeSigs := make(chan os.Signal, 1)
	env.Notify(pipeSigs, syscall.SIGPIPE)
	defer env.StopNotify(pipeSigs)

	// SIGINT, SIGTERM and SIGHUP kill the program; vpmu then exits as
	// if the signal had killed it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	env.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer env.StopNotify(sigs)
	var got os.Signal
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case got = <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()

	st, err := vm.Run(ctx, prog, o.argv)
	cancel()
	<-stopped
	code = runResult(env, vm.Stats(), st, err, got)
	if metrics != nil {
		// The reports are out; the final counts stay up for
		// --metrics-linger, unless a signal came (it killed the
		// program, or it came as the program ended and so ends the
		// linger at once) or the program never ran.
		linger := o.metrics.linger
		var crash *hypervisor.GuestCrash
		if got != nil || err != nil && !errors.As(err, &crash) {
			linger = 0
		}
		if merr := metrics.stop(linger, sigs); merr != nil {
			fmt.Fprintf(env.Stderr, "vpmu run: %v\n", merr)
		}
	}
	return code
}

// runResult reports how the program ended (refusals, unknown system
// calls, a crash, a load error, the signal that stopped vpmu) and returns
// vpmu run's exit status. got is the signal vpmu received while the
// program ran, or nil: it is reported, and vpmu exits as if it had been
// killed by it, only when the program was killed (by the SIGKILL that Run
// sends when its context is cancelled). A signal that arrived as the
// program was ending on its own (Run had returned, or the program's exit
// was already under way) leaves the program's exit status alone.
func runResult(env *Env, vmst hypervisor.Stats, st hypervisor.ExitStatus, err error, got os.Signal) int {
	reportDenials(env.Stderr, vmst.Denials)
	reportUnknownSyscalls(env.Stderr, vmst)
	var crash *hypervisor.GuestCrash
	var le *hypervisor.LoadError
	switch {
	case errors.As(err, &crash):
		writeCrash(env.Stderr, crash)
		return st.Int()
	case errors.As(err, &le):
		fmt.Fprintf(env.Stderr, "vpmu run: %v\n", err)
		if errors.Is(err, os.ErrNotExist) && !errors.Is(err, hypervisor.ErrInterpreter) {
			return exitNotFound
		}
		return exitCannotExec
	case err != nil:
		fmt.Fprintf(env.Stderr, "vpmu run: %v\n", err)
		return exitRunFailed
	case got != nil && st.Signal == syscall.SIGKILL:
		if s, ok := got.(syscall.Signal); ok {
			fmt.Fprintf(env.Stderr, "vpmu run: %v: the program was killed\n", got)
			return exitSignalBased + int(s)
		}
	}
	return st.Int()
}
