package simpmu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// Mode is the privilege level a simulated CPU executes in. Occurrences
// delivered in a mode are not counted by events that exclude it.
type Mode uint8

const (
	ModeUser       Mode = iota // counted unless pmu.ExcludeUser
	ModeKernel                 // counted unless pmu.ExcludeKernel
	ModeHypervisor             // counted unless pmu.ExcludeHV
	numModes
)

func (m Mode) String() string {
	switch m {
	case ModeUser:
		return "user"
	case ModeKernel:
		return "kernel"
	case ModeHypervisor:
		return "hypervisor"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Idle is the task number of an idle CPU.
const Idle = 0

// DefaultTickInterval is the multiplexing period of Tick, the default of
// the kernel's perf_event_mux_interval_ms.
const DefaultTickInterval = 4 * time.Millisecond

// Config describes a simulated machine. Zero fields take the defaults.
type Config struct {
	// CPUs is the number of simulated CPUs (default 1).
	CPUs int
	// Counters is the number of general-purpose counters per CPU
	// (default 4).
	Counters int
	// Width is the counter width in bits, 1 to 64 (default 48).
	Width uint
	// Seed draws the initial value of every physical counter. With 0,
	// counters start at 0.
	Seed uint64
	// TickInterval is the simulated time one Tick lasts (default
	// DefaultTickInterval).
	TickInterval time.Duration
	// Unsupported lists events that Open refuses with a
	// *pmu.NotSupportedError carrying the given reason.
	Unsupported map[Key]string
	// Constraints restricts an event to a bit set of counters (bit i:
	// counter i may count it), as real PMUs restrict some events. Events
	// not listed may use any counter.
	Constraints map[Key]uint64
	// OnOverflow, if set, is called for every physical counter that
	// wraps past 2^Width, after the call that made it wrap returns its
	// lock, in the order the wraps happened.
	OnOverflow func(Overflow)
}

// Overflow reports that a physical counter wrapped.
type Overflow struct {
	CPU, Counter int
	// Event is the event programmed on the counter.
	Event pmu.Event
	// Wraps is how many times it wrapped in one delivery (more than 1
	// only when one delivery exceeds 2^Width).
	Wraps uint64
}

// ErrPinned is returned by Read for a pinned group that could not get its
// counters (the kernel's error state); Enable clears it.
var ErrPinned = errors.New("simpmu: pinned group could not be scheduled on the counters")

// ErrClosed is returned by the methods of a closed counter.
var ErrClosed = errors.New("simpmu: counter is closed")

// Sim is a simulated machine. It is a pmu.Source and a pmu.Prober.
//
// A Sim is safe for concurrent use; its methods and those of its counters
// serialize on one lock. Methods that take a CPU number panic when it is
// out of range, like an index expression: that is a bug in the caller.
type Sim struct {
	cfg  Config
	mask uint64 // 2^Width - 1

	mu        sync.Mutex
	now       time.Duration
	cpus      []*cpuState
	tasks     map[int]*task // by pid
	nextPID   int
	groups    []*group // open groups, in open order
	nextOrder uint64   // rotation order of the next group to the back
	nextID    uint64
	pending   []Overflow // overflows to report after unlocking
}

type cpuState struct {
	phys     []uint64 // physical counters, < 2^Width
	assigned []*event // event programmed on each counter, or nil
	task     int      // running task, or Idle
	mode     Mode
	guest    bool
	rates    map[Key]uint64 // occurrences per simulated second
	rateRem  map[Key]uint64 // carried remainder of rate*ns, < 1e9
	rotate   bool           // a flexible group could not be scheduled
	// truth counts every delivered occurrence by owner, key and mode.
	truth map[truthKey]uint64
}

type truthKey struct {
	pid   int
	key   Key
	mode  Mode
	guest bool
}

type task struct {
	pid int
	cpu int // CPU it runs on, or -1
}

// New returns a simulated machine.
func New(cfg Config) (*Sim, error) {
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.Counters == 0 {
		cfg.Counters = 4
	}
	if cfg.Width == 0 {
		cfg.Width = 48
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	switch {
	case cfg.CPUs < 0:
		return nil, fmt.Errorf("simpmu: %d CPUs", cfg.CPUs)
	case cfg.Counters < 0 || cfg.Counters > 64:
		return nil, fmt.Errorf("simpmu: %d counters per CPU, want 1-64", cfg.Counters)
	case cfg.Width > 64:
		return nil, fmt.Errorf("simpmu: counter width %d, want 1-64", cfg.Width)
	case cfg.TickInterval < 0:
		return nil, fmt.Errorf("simpmu: negative tick interval %v", cfg.TickInterval)
	}
	for k, m := range cfg.Constraints {
		if m&(1<<cfg.Counters-1) == 0 {
			return nil, fmt.Errorf("simpmu: constraint of %v allows none of the %d counters", k, cfg.Counters)
		}
	}
	s := &Sim{cfg: cfg, mask: ^uint64(0) >> (64 - cfg.Width), tasks: map[int]*task{}, nextPID: 1}
	var rng *rand.Rand
	if cfg.Seed != 0 {
		rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	}
	for range cfg.CPUs {
		c := &cpuState{
			phys:     make([]uint64, cfg.Counters),
			assigned: make([]*event, cfg.Counters),
			rates:    map[Key]uint64{},
			rateRem:  map[Key]uint64{},
			truth:    map[truthKey]uint64{},
		}
		if rng != nil {
			for i := range c.phys {
				c.phys[i] = rng.Uint64() & s.mask
			}
		}
		s.cpus = append(s.cpus, c)
	}
	return s, nil
}

// Name implements pmu.Source.
func (s *Sim) Name() string { return "sim" }

// CPUs returns the number of simulated CPUs.
func (s *Sim) CPUs() int { return len(s.cpus) }

// Counters returns the number of counters per CPU.
func (s *Sim) Counters() int { return s.cfg.Counters }

// Width returns the counter width in bits.
func (s *Sim) Width() uint { return s.cfg.Width }

// Now returns the simulated time elapsed since New.
func (s *Sim) Now() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *Sim) cpu(i int) *cpuState {
	if i < 0 || i >= len(s.cpus) {
		panic(fmt.Sprintf("simpmu: CPU %d out of range [0,%d)", i, len(s.cpus)))
	}
	return s.cpus[i]
}

// NewTask creates a task, not running, and returns its pid (1, 2, ...),
// the PID a pmu.Target names it by.
func (s *Sim) NewTask() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pid := s.nextPID
	s.nextPID++
	s.tasks[pid] = &task{pid: pid, cpu: -1}
	return pid
}

// Schedule makes pid (or Idle) the task running on cpu; the task that ran
// there stops. A task runs on one CPU at a time: to migrate it, schedule
// it off its CPU first. Counters are rescheduled as the kernel does at a
// context switch.
func (s *Sim) Schedule(cpu, pid int) error {
	defer s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cpu(cpu)
	if pid != Idle {
		t, ok := s.tasks[pid]
		if !ok {
			return fmt.Errorf("simpmu: schedule task %d on CPU %d: no such task", pid, cpu)
		}
		if t.cpu >= 0 && t.cpu != cpu {
			return fmt.Errorf("simpmu: schedule task %d on CPU %d: it is running on CPU %d", pid, cpu, t.cpu)
		}
	}
	if c.task == pid {
		return nil
	}
	if old, ok := s.tasks[c.task]; ok {
		old.cpu = -1
	}
	c.task = pid
	if t, ok := s.tasks[pid]; ok {
		t.cpu = cpu
	}
	s.resched(cpu)
	return nil
}

// Running returns the task running on cpu, or Idle.
func (s *Sim) Running(cpu int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cpu(cpu).task
}

// SetMode sets the privilege level cpu executes in.
func (s *Sim) SetMode(cpu int, m Mode) {
	if m >= numModes {
		panic(fmt.Sprintf("simpmu: bad mode %d", m))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpu(cpu).mode = m
}

// SetGuest says whether cpu runs a guest (counted unless
// pmu.ExcludeGuest) or the host (counted unless pmu.ExcludeHost).
func (s *Sim) SetGuest(cpu int, guest bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpu(cpu).guest = guest
}

// Exec simulates execve by pid: its counters opened with
// Target.EnableOnExec are enabled.
func (s *Sim) Exec(pid int) error {
	defer s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[pid]
	if !ok {
		return fmt.Errorf("simpmu: exec of task %d: no such task", pid)
	}
	for _, g := range s.groups {
		if g.target.PID == pid && g.target.EnableOnExec && !g.enabled {
			g.enabled, g.err = true, nil
		}
	}
	if t.cpu >= 0 {
		s.resched(t.cpu)
	}
	return nil
}

// ReadPhys returns the raw value of physical counter idx of cpu, in
// [0, 2^Width). The simulator never rewrites a counter: it keeps counting
// from whatever value it had when an event is programmed on it.
func (s *Sim) ReadPhys(cpu, idx int) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cpu(cpu)
	if idx < 0 || idx >= len(c.phys) {
		panic(fmt.Sprintf("simpmu: counter %d out of range [0,%d)", idx, len(c.phys)))
	}
	return c.phys[idx]
}

// CounterEvent returns the event programmed on physical counter idx of
// cpu, if any.
func (s *Sim) CounterEvent(cpu, idx int) (pmu.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cpu(cpu)
	if idx < 0 || idx >= len(c.assigned) {
		panic(fmt.Sprintf("simpmu: counter %d out of range [0,%d)", idx, len(c.assigned)))
	}
	if e := c.assigned[idx]; e != nil {
		return e.ev, true
	}
	return pmu.Event{}, false
}

// flush reports pending overflows to Config.OnOverflow. It runs without
// the lock, deferred by every method that can make a counter wrap.
func (s *Sim) flush() {
	s.mu.Lock()
	p := s.pending
	s.pending = nil
	s.mu.Unlock()
	if s.cfg.OnOverflow == nil {
		return
	}
	for _, o := range p {
		s.cfg.OnOverflow(o)
	}
}
