package simpmu

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/pmu"
)

// Probe implements pmu.Prober: it returns a *pmu.NotSupportedError for
// events listed in Config.Unsupported, else nil.
func (s *Sim) Probe(e pmu.Event) error {
	if why, ok := s.cfg.Unsupported[KeyOf(e)]; ok {
		return &pmu.NotSupportedError{Event: e.String(), Reason: why}
	}
	return nil
}

// Open implements pmu.Source. The target is read the way perf_event_open
// reads it:
//
//	PID > 0, CPU == -1: task PID (from NewTask), on whatever CPU it runs
//	PID > 0, CPU >= 0:  task PID, only while it runs on CPU
//	PID == -1, CPU >= 0: everything that runs on CPU
//
// PID 0 (the calling thread) has no meaning in a simulation and is an
// error, as are Inherit (not modeled) and unknown tasks or CPUs. A group
// with an event in Config.Unsupported fails with a *pmu.NotSupportedError;
// a group that cannot fit on an empty PMU (too many events, or
// constraints that cannot all be met) fails like perf_event_open does with
// EINVAL. The group's leader decides pinning (Pinned, :D). The counter
// starts enabled unless Disabled or EnableOnExec is set.
func (s *Sim) Open(g pmu.Group, t pmu.Target) (pmu.Counter, error) {
	if len(g.Events) == 0 {
		return nil, errors.New("simpmu: open of an empty group")
	}
	for _, e := range g.Events {
		if err := s.Probe(e); err != nil {
			return nil, err
		}
	}
	if t.Inherit {
		return nil, &pmu.NotSupportedError{Event: g.String(), Reason: "the simulated PMU does not model inherit"}
	}
	defer s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case t.PID == 0:
		return nil, errors.New("simpmu: target PID 0 (the calling thread) means nothing in a simulation; open on a task from NewTask")
	case t.PID < -1:
		return nil, fmt.Errorf("simpmu: bad target PID %d", t.PID)
	case t.PID == -1 && t.CPU < 0:
		return nil, errors.New("simpmu: a CPU-wide counter (PID -1) needs a CPU")
	case t.CPU >= len(s.cpus) || t.CPU < -1:
		return nil, fmt.Errorf("simpmu: target CPU %d out of range [0,%d)", t.CPU, len(s.cpus))
	case t.PID > 0 && s.tasks[t.PID] == nil:
		return nil, fmt.Errorf("simpmu: target task %d does not exist", t.PID)
	}
	all := uint64(1)<<s.cfg.Counters - 1
	if s.cfg.Counters == 64 {
		all = ^uint64(0)
	}
	gr := &group{target: t, active: -1, software: true, pinned: g.Events[0].Pinned}
	for _, e := range g.Events {
		s.nextID++
		ev := &event{ev: e, key: KeyOf(e), id: s.nextID, counter: -1, allowed: all}
		if m, ok := s.cfg.Constraints[ev.key]; ok {
			ev.allowed = m & all
		}
		gr.events = append(gr.events, ev)
		gr.software = gr.software && isSoftware(e)
	}
	if _, ok := assign(gr.events, 0); !ok {
		n := 0
		for _, e := range gr.events {
			if !isSoftware(e.ev) {
				n++
			}
		}
		return nil, fmt.Errorf("simpmu: group %s cannot be scheduled: %d hardware events for %d counters (with constraints)", g, n, s.cfg.Counters)
	}
	gr.enabled = !t.Disabled && !t.EnableOnExec
	gr.order = s.nextOrder
	s.nextOrder++
	s.groups = append(s.groups, gr)
	if cpu := s.eligibleCPU(gr); cpu >= 0 {
		s.resched(cpu)
	}
	return &counter{s: s, g: gr, spec: g}, nil
}

// counter is an open group of the simulator.
type counter struct {
	s    *Sim
	g    *group
	spec pmu.Group
}

func (c *counter) Group() pmu.Group { return c.spec }

// Read returns each event's count with its enabled and running times in
// simulated nanoseconds, as one snapshot.
func (c *counter) Read() ([]pmu.Value, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.g.closed {
		return nil, ErrClosed
	}
	if c.g.err != nil {
		return nil, c.g.err
	}
	out := make([]pmu.Value, len(c.g.events))
	for i, e := range c.g.events {
		out[i] = pmu.Value{Event: e.ev, Raw: e.count, Enabled: e.enabled, Running: e.running, ID: e.id}
	}
	return out, nil
}

// Enable enables the group (and clears the pinned error state).
func (c *counter) Enable() error {
	return c.set(func(g *group) { g.enabled, g.err = true, nil })
}

// Disable stops the group counting; its counts and times are kept.
func (c *counter) Disable() error {
	return c.set(func(g *group) { g.enabled = false })
}

// set changes the group and reschedules the CPUs it leaves and joins.
func (c *counter) set(f func(*group)) error {
	defer c.s.flush()
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.g.closed {
		return ErrClosed
	}
	before := c.g.active
	f(c.g)
	if before >= 0 {
		c.s.resched(before)
	}
	if cpu := c.s.eligibleCPU(c.g); cpu >= 0 && cpu != before {
		c.s.resched(cpu)
	}
	return nil
}

// Reset zeroes the counts, as PERF_EVENT_IOC_RESET does; the enabled and
// running times are kept.
func (c *counter) Reset() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.g.closed {
		return ErrClosed
	}
	for _, e := range c.g.events {
		e.count = 0
	}
	return nil
}

// Close releases the group's counters. It may be called more than once.
func (c *counter) Close() error {
	defer c.s.flush()
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.g.closed {
		return nil
	}
	// Reschedule the CPU it was on, or waiting for: groups that it kept
	// off the counters get them at once.
	cpu := c.g.active
	if cpu < 0 {
		cpu = c.s.eligibleCPU(c.g)
	}
	c.s.deactivate(c.g)
	c.g.closed = true
	for i, g := range c.s.groups {
		if g == c.g {
			c.s.groups = append(c.s.groups[:i], c.s.groups[i+1:]...)
			break
		}
	}
	if cpu >= 0 {
		c.s.resched(cpu)
	}
	return nil
}
