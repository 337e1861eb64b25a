package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// Events as the pmu catalog resolves them.
var fakeEvents = map[string]pmu.Event{
	"task-clock":       {Name: "task-clock", Kind: pmu.KindSoftware, Type: 1, Config: 1},
	"context-switches": {Name: "context-switches", Kind: pmu.KindSoftware, Type: 1, Config: 3},
	"cpu-migrations":   {Name: "cpu-migrations", Kind: pmu.KindSoftware, Type: 1, Config: 4},
	"page-faults":      {Name: "page-faults", Kind: pmu.KindSoftware, Type: 1, Config: 2},
	"cycles":           {Name: "cycles", Kind: pmu.KindHardware, Type: 0, Config: 0},
	"instructions":     {Name: "instructions", Kind: pmu.KindHardware, Type: 0, Config: 1},
	"branches":         {Name: "branches", Kind: pmu.KindHardware, Type: 0, Config: 4},
	"branch-misses":    {Name: "branch-misses", Kind: pmu.KindHardware, Type: 0, Config: 5},
	"L1-dcache-loads":  {Name: "L1-dcache-loads", Kind: pmu.KindHWCache, Type: 3, Config: 0},
	"msr/tsc/":         {Name: "msr/tsc/", Kind: pmu.KindPMU, Type: 12, Config: 0, PMU: "msr"},
	"syscalls":         {Name: "syscalls", Kind: pmu.KindVirtual, Config: uint64(pmu.VirtSyscalls)},
}

// fakeCatalog resolves comma-separated lists of the names in fakeEvents,
// and the whole specs registered in groups. It is not a spec parser: it
// knows nothing of modifiers or syntax beyond that.
type fakeCatalog struct {
	groups map[string]pmu.Spec
}

func (c *fakeCatalog) ParseSpec(spec string) (pmu.Spec, error) {
	if s, ok := c.groups[spec]; ok {
		return s, nil
	}
	var s pmu.Spec
	off := 0
	for _, name := range strings.Split(spec, ",") {
		e, ok := fakeEvents[name]
		if !ok {
			return pmu.Spec{}, &pmu.SpecError{Spec: spec, Offset: off, Token: name, Msg: "unknown event"}
		}
		s.Groups = append(s.Groups, pmu.Group{Events: []pmu.Event{e}})
		off += len(name) + 1
	}
	return s, nil
}

func (c *fakeCatalog) List() []pmu.Entry {
	return []pmu.Entry{
		{Name: "cpu-cycles", Aliases: []string{"cycles"}, Kind: pmu.KindHardware, Event: fakeEvents["cycles"]},
		{Name: "instructions", Kind: pmu.KindHardware, Event: fakeEvents["instructions"]},
		{Name: "task-clock", Kind: pmu.KindSoftware, Event: fakeEvents["task-clock"], Description: "per-task high-resolution timer"},
		{Name: "page-faults", Aliases: []string{"faults"}, Kind: pmu.KindSoftware, Event: fakeEvents["page-faults"]},
		{Name: "L1-dcache-loads", Kind: pmu.KindHWCache, Event: fakeEvents["L1-dcache-loads"]},
		{Name: "tsc", Kind: pmu.KindPMU, PMU: "msr", Event: fakeEvents["msr/tsc/"]},
		{Name: "syscalls", Kind: pmu.KindVirtual, Event: fakeEvents["syscalls"], Description: "system calls made by the guest thread"},
	}
}

// fakeSource counts nothing: its counters return the configured values.
// It records what was opened and closed.
type fakeSource struct {
	mu sync.Mutex
	// unsupported maps event names to the reason they cannot be
	// counted.
	unsupported map[string]string
	// openErr fails every Open that reaches the kernel.
	openErr error
	// values maps event names to readings (Event is filled in).
	values map[string]pmu.Value
	// readErr fails the reads of groups containing the named event.
	readErr map[string]error
	// probeErr maps event names to Probe errors other than unsupported.
	probeErr map[string]error

	log    []string // "open {a,b} pid=N inherit enable-on-exec", "close ..."
	open   int      // counters open now
	target []pmu.Target
}

func (s *fakeSource) Name() string { return "fake" }

func (s *fakeSource) Open(g pmu.Group, t pmu.Target) (pmu.Counter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range g.Events {
		if reason, ok := s.unsupported[e.Name]; ok {
			s.log = append(s.log, "refuse "+g.String())
			return nil, &pmu.NotSupportedError{Event: e.String(), Reason: reason, Err: syscall.ENOENT}
		}
	}
	if s.openErr != nil {
		return nil, s.openErr
	}
	s.log = append(s.log, fmt.Sprintf("open %s pid=%d inherit=%v enable-on-exec=%v", g, t.PID, t.Inherit, t.EnableOnExec))
	s.target = append(s.target, t)
	s.open++
	return &fakeCounter{src: s, group: g}, nil
}

func (s *fakeSource) Probe(e pmu.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason, ok := s.unsupported[e.Name]; ok {
		return &pmu.NotSupportedError{Event: e.String(), Reason: reason}
	}
	return s.probeErr[e.Name]
}

func (s *fakeSource) record(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, line)
}

func (s *fakeSource) history() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

type fakeCounter struct {
	src    *fakeSource
	group  pmu.Group
	closed bool
}

func (c *fakeCounter) Group() pmu.Group { return c.group }

func (c *fakeCounter) Read() ([]pmu.Value, error) {
	c.src.mu.Lock()
	defer c.src.mu.Unlock()
	var vs []pmu.Value
	for _, e := range c.group.Events {
		if err := c.src.readErr[e.Name]; err != nil {
			return nil, err
		}
		v, ok := c.src.values[e.Name]
		if !ok {
			v = pmu.Value{Raw: 1000, Enabled: time.Millisecond, Running: time.Millisecond}
		}
		v.Event = e
		vs = append(vs, v)
	}
	return vs, nil
}

func (c *fakeCounter) Enable() error  { return nil }
func (c *fakeCounter) Disable() error { return nil }
func (c *fakeCounter) Reset() error   { return nil }

func (c *fakeCounter) Close() error {
	c.src.mu.Lock()
	defer c.src.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.src.open--
		c.src.log = append(c.src.log, "close "+c.group.String())
	}
	return nil
}

// fakeStopped stands in for perfevent.Stopped: the command runs at once
// (it is not held before exec), and Release and Abort are recorded.
type fakeStopped struct {
	src       *fakeSource
	cmd       *exec.Cmd
	onRelease func()
}

func (f *fakeStopped) Release() error {
	f.src.record(fmt.Sprintf("release pid=%d", f.cmd.Process.Pid))
	if f.onRelease != nil {
		f.onRelease()
	}
	return nil
}

func (f *fakeStopped) Wait() error { return f.cmd.Wait() }

func (f *fakeStopped) Abort() error {
	f.src.record("abort")
	return f.cmd.Process.Kill()
}

// fakeClock advances one second each time it is read.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// harness runs cli commands in-process against fakes.
type harness struct {
	t       *testing.T
	src     *fakeSource
	cat     *fakeCatalog
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	files   map[string]*bytes.Buffer
	sigs    chan<- os.Signal // the channel the command registered last
	sigMu   sync.Mutex
	alive   func(pid int) bool
	release func(h *harness) // called from fakeStopped.Release
}

func newHarness(t *testing.T) *harness {
	return &harness{
		t: t,
		src: &fakeSource{
			unsupported: map[string]string{
				"cycles": pmu.ReasonNoHardwarePMU, "instructions": pmu.ReasonNoHardwarePMU,
				"branches": pmu.ReasonNoHardwarePMU, "branch-misses": pmu.ReasonNoHardwarePMU,
			},
			values: map[string]pmu.Value{
				"task-clock":       {Raw: 1_500_000, Enabled: 1_500_000, Running: 1_500_000},
				"context-switches": {Raw: 3, Enabled: 1_500_000, Running: 1_500_000},
				"cpu-migrations":   {Raw: 0, Enabled: 1_500_000, Running: 1_500_000},
				"page-faults":      {Raw: 120, Enabled: 1_500_000, Running: 1_500_000},
			},
		},
		cat:   &fakeCatalog{},
		files: map[string]*bytes.Buffer{},
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (h *harness) env() *Env {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return &Env{
		Stdin:   strings.NewReader(""),
		Stdout:  &h.stdout,
		Stderr:  &h.stderr,
		Catalog: h.cat,
		Source:  h.src,
		OpenProcess: func(g pmu.Group, pid int) (pmu.Counter, error) {
			return h.src.Open(g, pmu.Target{PID: pid, CPU: -1, Inherit: true})
		},
		Launch: func(cmd *exec.Cmd) (Stopped, error) {
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			h.src.record("launch")
			return &fakeStopped{src: h.src, cmd: cmd, onRelease: func() {
				if h.release != nil {
					h.release(h)
				}
			}}, nil
		},
		Notify: func(c chan<- os.Signal, sig ...os.Signal) {
			h.sigMu.Lock()
			h.sigs = c
			h.sigMu.Unlock()
		},
		StopNotify: func(c chan<- os.Signal) {
			h.sigMu.Lock()
			h.sigs = nil
			h.sigMu.Unlock()
		},
		Alive: func(pid int) bool {
			if h.alive != nil {
				return h.alive(pid)
			}
			return true
		},
		PollInterval: time.Millisecond,
		Now:          clock.Now,
		Create: func(name string) (io.WriteCloser, error) {
			if strings.Contains(name, "/nonexistent/") {
				return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
			}
			b := &bytes.Buffer{}
			h.files[name] = b
			return nopCloser{b}, nil
		},
	}
}

// signal sends sig on the channel the running command registered.
func (h *harness) signal(sig os.Signal) bool {
	h.sigMu.Lock()
	c := h.sigs
	h.sigMu.Unlock()
	if c == nil {
		return false
	}
	c <- sig
	return true
}

// run runs vpmu with args and returns the exit status. It fails the test
// if counters were left open.
func (h *harness) run(args ...string) int {
	h.t.Helper()
	h.stdout.Reset()
	h.stderr.Reset()
	code := h.env().Run(args)
	if h.src.open != 0 {
		h.t.Errorf("vpmu %q left %d counters open; log:\n%s", args, h.src.open, strings.Join(h.src.history(), "\n"))
	}
	return code
}

var errFake = errors.New("fake failure")
