package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/pmu"
)

// launchAndCount runs argv with the spec's counters attached from its
// execve on, waits for it, and returns the report and the command's
// shell exit status.
//
// While the command runs, SIGINT and SIGQUIT are ignored (the terminal
// sends them to the command too, and vpmu prints the counts after it
// dies, as perf does); SIGTERM and SIGHUP are forwarded to the command.
func launchAndCount(env *Env, spec pmu.Spec, argv []string) (*exporters.Report, int, error) {
	if env.Launch == nil || env.Source == nil {
		return nil, 0, fmt.Errorf("no counter backend to launch a command with: %w", ErrNotWired)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return nil, 0, fmt.Errorf("cannot run command: %w", cmd.Err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	held, err := env.Launch(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	target := pmu.Target{PID: cmd.Process.Pid, CPU: -1, Inherit: true, EnableOnExec: true}
	sess, err := openSession(spec, func(g pmu.Group) (pmu.Counter, error) { return env.Source.Open(g, target) })
	if err != nil {
		held.Abort()
		held.Wait()
		return nil, 0, err
	}
	defer sess.close()

	sigs := make(chan os.Signal, 4)
	env.Notify(sigs, os.Interrupt, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM || s == syscall.SIGHUP {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	defer func() {
		env.StopNotify(sigs)
		close(done)
		<-forwarded
	}()

	start := env.Now()
	if err := held.Release(); err != nil {
		held.Wait()
		return nil, 0, fmt.Errorf("run %s: %w", argv[0], err)
	}
	waitErr := held.Wait()
	elapsed := env.Now().Sub(start)
	ps := cmd.ProcessState
	if ps == nil {
		return nil, 0, fmt.Errorf("wait for %s: %w", argv[0], waitErr)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		// The command ran, but copying its standard streams failed.
		fmt.Fprintf(env.Stderr, "vpmu stat: %s: %v\n", argv[0], waitErr)
	}
	exit := exitStatus(ps)
	rep := &exporters.Report{
		Target:  exporters.Target{Command: argv},
		Rows:    sess.read(),
		Elapsed: elapsed,
		Usage:   &exporters.Usage{User: ps.UserTime(), Sys: ps.SystemTime()},
		Exit:    &exit,
	}
	return rep, exit.ShellCode(), nil
}

// exitStatus converts a finished process's state.
func exitStatus(ps *os.ProcessState) exporters.ExitStatus {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exporters.ExitStatus{Signal: ws.Signal()}
	}
	return exporters.ExitStatus{Code: ps.ExitCode()}
}

// attachAndCount counts every thread of the existing process pid until
// SIGINT, SIGTERM or SIGHUP arrives or the process exits.
func attachAndCount(env *Env, spec pmu.Spec, pid int) (*exporters.Report, error) {
	if env.OpenProcess == nil {
		return nil, fmt.Errorf("no counter backend to attach to a process with: %w", ErrNotWired)
	}
	if !env.Alive(pid) {
		return nil, fmt.Errorf("-p %d: no such process", pid)
	}
	sigs := make(chan os.Signal, 1)
	env.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer env.StopNotify(sigs)

	sess, err := openSession(spec, func(g pmu.Group) (pmu.Counter, error) { return env.OpenProcess(g, pid) })
	if err != nil {
		return nil, fmt.Errorf("-p %d: %w", pid, err)
	}
	defer sess.close()
	start := env.Now()
	tick := time.NewTicker(env.PollInterval)
	defer tick.Stop()
wait:
	for {
		select {
		case <-sigs:
			break wait
		case <-tick.C:
			if !env.Alive(pid) {
				break wait
			}
		}
	}
	return &exporters.Report{
		Target:  exporters.Target{PID: pid},
		Rows:    sess.read(),
		Elapsed: env.Now().Sub(start),
	}, nil
}
