package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// Catalog resolves event specs and lists the known events.
// [PMUCatalog] adapts a *pmu.Catalog.
type Catalog interface {
	// ParseSpec parses a perf-style event list. Syntax and resolution
	// errors are *pmu.SpecError.
	ParseSpec(spec string) (pmu.Spec, error)
	// List returns every known event.
	List() []pmu.Entry
}

// Stopped is a command started but held before it executes its program,
// so that counters opened on its pid count it from its first instruction.
// *perfevent.Stopped implements it.
type Stopped interface {
	// Release lets the command execute. It returns the execve error if
	// the program could not be executed.
	Release() error
	// Abort makes the held process exit without running the command.
	Abort() error
	// Wait waits for the command (released or aborted) to exit, like
	// cmd.Wait, after which cmd.ProcessState is set.
	Wait() error
}

// Env is everything the commands touch outside their own memory: the
// standard streams, the event catalog, the counter source, process
// control and the clock. Main fills it with the real implementations;
// tests fill it with fakes. Fields are read-only once Run starts.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// Catalog parses specs and lists events.
	Catalog Catalog
	// Source opens counters on a launched command. vpmu list probes
	// support through it when it also implements pmu.Prober.
	Source pmu.Source
	// OpenProcess opens g on every thread of an existing process and
	// sums them, for vpmu stat -p.
	OpenProcess func(g pmu.Group, pid int) (pmu.Counter, error)
	// Launch starts cmd held before exec (see Stopped); after it
	// returns, cmd.Process is set and the caller must Release or Abort
	// and then Wait.
	Launch func(cmd *exec.Cmd) (Stopped, error)
	// OpenSampler opens g with its leader sampling per cfg, for vpmu
	// record (see Sampler).
	OpenSampler func(g pmu.Group, t pmu.Target, cfg perfevent.SampleConfig) (Sampler, error)

	// Notify and StopNotify are signal.Notify and signal.Stop.
	Notify     func(c chan<- os.Signal, sig ...os.Signal)
	StopNotify func(c chan<- os.Signal)
	// Alive reports whether process pid still exists (vpmu stat -p
	// stops when it exits).
	Alive func(pid int) bool
	// PollInterval is how often -p checks Alive.
	PollInterval time.Duration
	// Now is the clock for elapsed times.
	Now func() time.Time
	// Create creates (or truncates) the -o output file.
	Create func(name string) (io.WriteCloser, error)
}

// ErrNotWired is returned when a command needs a part of Env that is nil.
var ErrNotWired = errors.New("not available in this build")

// withDefaults returns a copy of env with the nil fields that have a
// standard implementation (streams, signals, clock, files) filled in.
func (env *Env) withDefaults() *Env {
	e := *env
	if e.Stdin == nil {
		e.Stdin = os.Stdin
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Notify == nil {
		e.Notify = signal.Notify
	}
	if e.StopNotify == nil {
		e.StopNotify = signal.Stop
	}
	if e.Alive == nil {
		e.Alive = processAlive
	}
	if e.PollInterval <= 0 {
		e.PollInterval = 100 * time.Millisecond
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Create == nil {
		e.Create = func(name string) (io.WriteCloser, error) { return os.Create(name) }
	}
	return &e
}

// processAlive reports whether pid exists, by sending it signal 0.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	defer p.Release()
	err = p.Signal(syscall.Signal(0))
	switch {
	case err == nil:
		return true
	case errors.Is(err, os.ErrProcessDone), errors.Is(err, syscall.ESRCH):
		return false
	}
	return true // EPERM: it exists but belongs to another user
}

// signalContext returns a context that is cancelled when one of sigs
// arrives (through env.Notify), and the function that cancels it and
// stops the notification.
func (env *Env) signalContext(sigs ...os.Signal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	env.Notify(ch, sigs...)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		env.StopNotify(ch)
		cancel()
	}
}
