package perfevent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// ProcessCounter counts one group on every thread of an existing
// process, the way perf stat -p does: one perf group per thread listed in
// /proc/PID/task, each with inherit so that threads and children created
// later are counted into their creator's counter, and reads that sum the
// threads.
//
// There is one race, the same as perf's: a thread created between the
// listing of /proc/PID/task and the opening of its creator's counter is
// not counted.
//
// Methods must be called from one goroutine at a time.
type ProcessCounter struct {
	group   pmu.Group
	pid     int
	tids    []int
	threads []*Counter
	scratch []pmu.Value
	closed  bool
}

var _ pmu.Counter = (*ProcessCounter)(nil)

// OpenProcess opens g on every thread of process pid. Threads that exit
// while it runs are skipped; an error opening any other thread closes
// everything and is returned. The target flags of each thread's group are
// Inherit plus those of opts (Disabled, EnableOnExec).
func (s *Source) OpenProcess(g pmu.Group, pid int, opts pmu.Target) (_ *ProcessCounter, err error) {
	if pid <= 0 {
		return nil, fmt.Errorf("perfevent: open process: pid %d must be positive", pid)
	}
	tids, err := listThreads(s.host.procRoot, pid)
	if err != nil {
		return nil, fmt.Errorf("perfevent: open process %d: %w", pid, err)
	}
	p := &ProcessCounter{group: g, pid: pid}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	for _, tid := range tids {
		t := pmu.Target{PID: tid, CPU: -1, Inherit: true, Disabled: opts.Disabled, EnableOnExec: opts.EnableOnExec}
		c, err := s.OpenCounter(g, t)
		if errors.Is(err, unix.ESRCH) {
			continue // the thread exited after the listing
		}
		if err != nil {
			return nil, err
		}
		p.tids = append(p.tids, tid)
		p.threads = append(p.threads, c)
	}
	if len(p.threads) == 0 {
		return nil, fmt.Errorf("perfevent: open process %d: all %d threads exited", pid, len(tids))
	}
	return p, nil
}

// listThreads returns the thread ids in /proc/PID/task, sorted.
func listThreads(procRoot string, pid int) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(pid), "task"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("process %d does not exist: %w", pid, err)
		}
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	sort.Ints(tids)
	return tids, nil
}

// Group returns the counted group.
func (p *ProcessCounter) Group() pmu.Group { return p.group }

// PID returns the process id.
func (p *ProcessCounter) PID() int { return p.pid }

// TIDs returns the threads that have a counter, in ascending order.
func (p *ProcessCounter) TIDs() []int { return p.tids }

// Read returns the sum over threads of each event. Raw counts, Enabled
// and Running are all summed, as perf stat does, so Value.Scaled
// extrapolates with the threads' total enabled and running time. ID is
// the ID of the event on the first thread.
func (p *ProcessCounter) Read() ([]pmu.Value, error) {
	if p.closed {
		return nil, ErrClosed
	}
	out := make([]pmu.Value, len(p.group.Events))
	for i, e := range p.group.Events {
		out[i].Event = e
		out[i].ID = p.threads[0].ids[i]
	}
	for ti, c := range p.threads {
		var err error
		p.scratch, err = c.ReadInto(p.scratch)
		if err != nil {
			return nil, fmt.Errorf("thread %d: %w", p.tids[ti], err)
		}
		for i, v := range p.scratch {
			out[i].Raw += v.Raw
			out[i].Enabled += v.Enabled
			out[i].Running += v.Running
		}
	}
	return out, nil
}

// ThreadValues is one thread's values.
type ThreadValues struct {
	TID    int
	Values []pmu.Value
}

// ReadThreads returns each thread's values (for --per-thread output).
func (p *ProcessCounter) ReadThreads() ([]ThreadValues, error) {
	if p.closed {
		return nil, ErrClosed
	}
	out := make([]ThreadValues, len(p.threads))
	for i, c := range p.threads {
		v, err := c.Read()
		if err != nil {
			return nil, fmt.Errorf("thread %d: %w", p.tids[i], err)
		}
		out[i] = ThreadValues{TID: p.tids[i], Values: v}
	}
	return out, nil
}

// Enable enables every thread's group.
func (p *ProcessCounter) Enable() error { return p.each((*Counter).Enable) }

// Disable disables every thread's group.
func (p *ProcessCounter) Disable() error { return p.each((*Counter).Disable) }

// Reset resets every thread's group.
func (p *ProcessCounter) Reset() error { return p.each((*Counter).Reset) }

func (p *ProcessCounter) each(f func(*Counter) error) error {
	if p.closed {
		return ErrClosed
	}
	var errs []error
	for i, c := range p.threads {
		if err := f(c); err != nil {
			errs = append(errs, fmt.Errorf("thread %d: %w", p.tids[i], err))
		}
	}
	return errors.Join(errs...)
}

// Close closes every thread's counter. It is idempotent.
func (p *ProcessCounter) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, c := range p.threads {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
