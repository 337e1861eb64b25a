package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
	"github.com/vpmu/vpmu/profiler"
)

// Sampler is an open sampling counter and the reader of its ring buffers:
// *perfevent.Sampler implements it. ReadRecord and Close may be called
// concurrently (Close unblocks ReadRecord); Enable and Disable from one
// goroutine at a time.
type Sampler interface {
	profiler.RecordReader
	// Enable and Disable start and stop sampling.
	Enable() error
	Disable() error
	// Close closes the counters and unmaps the rings.
	Close() error
}

// recorder is one vpmu record run.
type recorder struct {
	env   *Env
	opts  *recordOptions
	event pmu.Event // the event sampled, after any fallback
	// period and freq are the sampling rate; one of them is 0.
	period, freq uint64

	cfg      perfevent.SampleConfig
	samplers []Sampler
	procs    *profiler.Processes
	notes    []string      // the profile's comments
	warm     chan struct{} // closed when the symbolizer's warm-up is done
	code     int           // exit status when the run succeeds
}

// prepare opens the event with open, at the sampling rate and with the
// ring size for the given number of threads samplers.
func (r *recorder) prepare(threads int, open openFunc) error {
	cfg := r.opts.sampleConfig(r.period, r.freq, r.opts.ringPages(threads))
	if err := r.openEvent(cfg, open); err != nil {
		return err
	}
	if r.cfg.Freq > 0 {
		r.notes = append(r.notes, fmt.Sprintf("sampling: about %d samples per second of running time", r.cfg.Freq))
	} else {
		r.notes = append(r.notes, fmt.Sprintf("sampling: every %d %s", r.cfg.Period, profiler.EventUnit(r.event.String())))
	}
	if r.opts.callGraph {
		r.notes = append(r.notes, "call stacks: the kernel's frame-pointer walk (-g)")
	} else {
		r.notes = append(r.notes, "call stacks: none, the sampled instruction only (record with -g for stacks)")
	}
	return nil
}

// closeSamplers closes every sampler.
func (r *recorder) closeSamplers() {
	for _, s := range r.samplers {
		s.Close()
	}
	r.samplers = nil
}

// disable stops sampling on every sampler.
func (r *recorder) disable() {
	for _, s := range r.samplers {
		s.Disable()
	}
}

func (r *recorder) readers() []profiler.RecordReader {
	rs := make([]profiler.RecordReader, len(r.samplers))
	for i, s := range r.samplers {
		rs[i] = s
	}
	return rs
}

// launch runs the command with sampling from its execve on, records until
// it exits and writes the profile. r.code becomes the command's shell
// exit status.
//
// While the command runs, SIGINT and SIGQUIT are ignored (the terminal
// sends them to the command too, and the profile is written once it
// dies, as perf does); SIGTERM and SIGHUP are forwarded to the command.
func (r *recorder) launch() error {
	env, argv := r.env, r.opts.command
	if env.Launch == nil {
		return fmt.Errorf("no backend to launch a command with: %w", ErrNotWired)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return fmt.Errorf("cannot run command: %w", cmd.Err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	held, err := env.Launch(cmd)
	if err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	target := pmu.Target{PID: cmd.Process.Pid, CPU: -1, Inherit: true, EnableOnExec: true}
	abort := func() {
		held.Abort()
		held.Wait()
	}
	err = r.prepare(1, func(g pmu.Group, cfg perfevent.SampleConfig) ([]Sampler, error) {
		s, err := env.OpenSampler(g, target, cfg)
		if err != nil {
			return nil, err
		}
		return []Sampler{s}, nil
	})
	if err != nil {
		abort()
		return err
	}
	defer r.closeSamplers()
	r.procs = profiler.NewProcesses(true)

	sigs := make(chan os.Signal, 4)
	env.Notify(sigs, os.Interrupt, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	var forwarder sync.WaitGroup
	forwarder.Add(1)
	go func() {
		defer forwarder.Done()
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
		forwarder.Wait()
	}()

	stream := profiler.NewPerfStream(0, r.readers()...)
	defer stream.Close()
	start := env.Now()
	b, err := r.builder(start)
	if err != nil {
		abort()
		return err
	}
	defer func() { <-r.warm }()
	if err := held.Release(); err != nil {
		held.Wait()
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	// The stream ends when the rings report that the command and
	// everything it started have exited, or, when children outlive it,
	// once the command itself has exited and the rings are drained.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = held.Wait()
		r.disable() // children that outlive the command stop filling the rings
		stream.Stop()
		close(exited)
	}()
	stats, recErr := profiler.Record(context.Background(), stream, b, profiler.RecordOptions{})
	<-exited
	elapsed := env.Now().Sub(start)

	ps := cmd.ProcessState
	if ps == nil {
		return fmt.Errorf("wait for %s: %w", argv[0], waitErr)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		// The command ran, but copying its standard streams failed.
		fmt.Fprintf(env.Stderr, "vpmu record: %s: %v\n", argv[0], waitErr)
	}
	exit := exitStatus(ps)
	r.code = exit.ShellCode()
	return r.finish(b, stats, stream, elapsed, recErr)
}

// attach records every thread of the existing process r.opts.pid until
// SIGINT, SIGTERM or SIGHUP, or until the process exits, and writes the
// profile.
//
// Each thread listed in /proc/PID/task gets its own sampler, with
// inherit, so threads and processes it creates later are sampled too.
// As with perf, a thread created between the listing and the opening of
// its creator's sampler is missed.
func (r *recorder) attach() error {
	env, pid := r.env, r.opts.pid
	pidFlag := r.opts.flag("p")
	if !env.Alive(pid) {
		return fmt.Errorf("%s %d: no such process", pidFlag, pid)
	}
	tids, err := listThreads(pid)
	if err != nil {
		return fmt.Errorf("%s %d: %w", pidFlag, pid, err)
	}
	sigs := make(chan os.Signal, 1)
	env.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer env.StopNotify(sigs)

	err = r.prepare(len(tids), func(g pmu.Group, cfg perfevent.SampleConfig) ([]Sampler, error) {
		var ss []Sampler
		for _, tid := range tids {
			s, err := env.OpenSampler(g, pmu.Target{PID: tid, CPU: -1, Inherit: true}, cfg)
			if errors.Is(err, syscall.ESRCH) {
				continue // the thread exited after the listing
			}
			if err != nil {
				for _, s := range ss {
					s.Close()
				}
				return nil, err
			}
			ss = append(ss, s)
		}
		if len(ss) == 0 {
			return nil, fmt.Errorf("%s %d: every thread exited", pidFlag, pid)
		}
		return ss, nil
	})
	if err != nil {
		return err
	}
	defer r.closeSamplers()
	r.procs = r.attachedProcesses(pid, tids)
	r.notes = append(r.notes, fmt.Sprintf("attached to process %d (%d threads)", pid, len(r.samplers)))
	stream := profiler.NewPerfStream(0, r.readers()...)
	defer stream.Close()
	start := env.Now()
	b, err := r.builder(start)
	if err != nil {
		return err
	}
	defer func() { <-r.warm }()
	done := make(chan struct{})
	var stopper sync.WaitGroup
	stopper.Add(1)
	go func() {
		defer stopper.Done()
		select {
		case <-sigs:
			r.disable()
			stream.Stop()
		case <-done:
		}
	}()
	stats, recErr := profiler.Record(context.Background(), stream, b, profiler.RecordOptions{})
	close(done)
	stopper.Wait()
	return r.finish(b, stats, stream, env.Now().Sub(start), recErr)
}

// attachedProcesses returns the process table of an attached process:
// its current mappings and thread names, which no record will report
// since they predate the samplers. What cannot be read is left to the
// builder, which tries /proc/PID/maps again at the first sample.
func (r *recorder) attachedProcesses(pid int, tids []int) *profiler.Processes {
	procs := profiler.NewProcesses(true)
	if maps, err := profiler.ReadProcMaps(pid); err == nil {
		procs.SetMappings("", pid, maps)
	}
	for _, tid := range tids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(tid), "comm"))
		if err == nil {
			procs.Comm("", pid, tid, strings.TrimSuffix(string(b), "\n"), false)
		}
	}
	return procs
}

// listThreads returns the thread ids of process pid, ascending.
func listThreads(pid int) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("no such process")
		}
		return nil, fmt.Errorf("list threads: %w", err)
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	if len(tids) == 0 {
		return nil, errors.New("no threads (the process exited)")
	}
	sort.Ints(tids)
	return tids, nil
}

// probeOutput checks, before anything runs, that the -o file can be
// written, without changing it: an existing file is opened for writing
// and closed, a new one is created and removed again. The profile itself
// is written through Env.Create once recording is over, so a command
// that fails to start leaves an existing profile alone.
func probeOutput(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(name)
}
