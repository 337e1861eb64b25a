package exporters

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// ProcessTarget counts an existing process, the way vpmu stat -p does:
// every thread it has when the target is created, and through inherit
// the threads and children they create later. Its rows are labeled
// {comm} (the process's name), or {tid, comm} per thread with
// PerThread; its identity is {target="process", pid}.
//
// When the process exits, the next Read takes the final counts, closes
// the counters, and from then on returns those counts with
// ErrTargetExited; the process is not looked for again.
type ProcessTarget struct {
	pid       int
	comm      string
	start     uint64 // starttime of the process, against pid reuse
	perThread bool
	procRoot  string

	set     *nativeSet[*perfevent.ProcessCounter]
	labels  []Label         // {comm}
	threads map[int]*thread // per-thread mode: by tid
	rows    []Row           // Read's result, reused
	final   []Row           // the rows read after the process exited
	vals    [][]pmu.Value   // per group, process mode
	tvals   [][]perfevent.ThreadValues
	closed  bool
	reads   uint64 // Read calls, to check each thread once per read
}

// thread is what a per-thread target knows about one thread.
type thread struct {
	labels  []Label // {tid, comm}
	start   uint64
	gone    bool
	checked uint64 // the read that last checked whether it exited
}

// ProcessOptions configures a ProcessTarget.
type ProcessOptions struct {
	// PerThread splits the counts by thread: one row per event and
	// thread, labeled tid and comm. Each thread adds a series per
	// metric and event, and thread ids are not stable across restarts
	// of the process, so use it for processes with few, long-lived
	// threads. A thread created after the target counts into the
	// thread that created it (inherit), as with perf stat -p.
	PerThread bool
}

// NewProcessTarget opens the spec's counters on every thread of process
// pid. Events the backend cannot count are kept as not-supported rows;
// any other failure (no such process, no permission to trace it) is
// returned and nothing stays open.
func NewProcessTarget(src *perfevent.Source, spec pmu.Spec, pid int, opts ProcessOptions) (*ProcessTarget, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("exporters: process target: pid %d must be positive", pid)
	}
	p := &ProcessTarget{pid: pid, perThread: opts.PerThread, procRoot: "/proc", threads: map[int]*thread{}}
	dir := filepath.Join(p.procRoot, strconv.Itoa(pid))
	st, err := readProcStat(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, fmt.Errorf("exporters: process %d: %w", pid, err)
	}
	p.start = st.start
	p.comm = readComm(filepath.Join(dir, "comm"))
	p.labels = []Label{{LabelComm, p.comm}}
	p.set, err = openNative(spec, func(g pmu.Group) (*perfevent.ProcessCounter, error) {
		return src.OpenProcess(g, pid, pmu.Target{})
	}, (*perfevent.ProcessCounter).Close)
	if err != nil {
		return nil, fmt.Errorf("exporters: process %d: %w", pid, err)
	}
	p.vals = make([][]pmu.Value, len(p.set.groups))
	p.tvals = make([][]perfevent.ThreadValues, len(p.set.groups))
	return p, nil
}

// Info returns {target="process", pid}.
func (p *ProcessTarget) Info() PromTargetInfo {
	return PromTargetInfo{Kind: "process", Labels: []Label{{"pid", strconv.Itoa(p.pid)}}}
}

// PID returns the process id.
func (p *ProcessTarget) PID() int { return p.pid }

// Comm returns the process's name when the target was created.
func (p *ProcessTarget) Comm() string { return p.comm }

// Unsupported returns a row for each event that is not counted, with
// the reason in Err.
func (p *ProcessTarget) Unsupported() []Row { return p.set.unsupported(p.labels) }

// Read implements PromTarget. The returned rows are valid until the
// next Read.
func (p *ProcessTarget) Read(ctx context.Context) ([]Row, error) {
	if p.final != nil {
		return p.final, nil
	}
	if p.closed {
		return nil, fmt.Errorf("process %d: %w", p.pid, errTargetClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	gone := taskGone(filepath.Join(p.procRoot, strconv.Itoa(p.pid), "stat"), p.start, true)
	rows, err := p.read(gone)
	if err != nil || !gone {
		return rows, err
	}
	// The process is gone: these counts are final.
	p.final = make([]Row, len(rows))
	for i, r := range rows {
		if r.Err == nil {
			r.Err = ErrTargetExited
		}
		p.final[i] = r
	}
	return p.final, p.Close()
}

// read reads every group once.
func (p *ProcessTarget) read(gone bool) ([]Row, error) {
	rows := p.rows[:0]
	p.reads++
	if p.perThread {
		for gi, g := range p.set.groups {
			tv, err := g.counter.ReadThreads()
			if err != nil {
				return nil, fmt.Errorf("process %d: read %s: %w", p.pid, g.group, err)
			}
			p.tvals[gi] = tv
		}
		for gi, g := range p.set.groups {
			for _, tv := range p.tvals[gi] {
				th := p.thread(tv.TID, gone)
				var err error
				if th.gone {
					err = ErrTargetExited
				}
				for i, v := range tv.Values {
					rows = append(rows, Row{Labels: th.labels, Event: nameOf(g.group.Events[i]), Value: v, Err: err})
				}
			}
		}
	} else {
		for gi, g := range p.set.groups {
			vs, err := g.counter.Read()
			if err != nil {
				return nil, fmt.Errorf("process %d: read %s: %w", p.pid, g.group, err)
			}
			p.vals[gi] = vs
		}
		for _, sl := range p.set.slots {
			if sl.err == nil {
				rows = append(rows, Row{Labels: p.labels, Event: sl.name, Value: p.vals[sl.group][sl.index]})
			}
		}
	}
	for _, sl := range p.set.slots {
		if sl.err != nil {
			rows = append(rows, Row{Labels: p.labels, Event: sl.name, Value: pmu.Value{Event: sl.event}, Err: sl.err})
		}
	}
	p.rows = rows
	return rows, nil
}

// nameOf is the event as written in the spec.
func nameOf(e pmu.Event) string { return e.String() }

// thread returns what is known of thread tid, learning its name and
// start time the first time, and whether it has exited since.
func (p *ProcessTarget) thread(tid int, processGone bool) *thread {
	th, ok := p.threads[tid]
	if ok && (th.gone || th.checked == p.reads) {
		return th
	}
	dir := filepath.Join(p.procRoot, strconv.Itoa(p.pid), "task", strconv.Itoa(tid))
	if !ok {
		th = &thread{labels: ThreadLabels(tid, readComm(filepath.Join(dir, "comm")))}
		if len(th.labels) == 1 {
			th.labels = append(th.labels, Label{LabelComm, ""})
		}
		if st, err := readProcStat(filepath.Join(dir, "stat")); err == nil {
			th.start = st.start
		} else {
			th.gone = true
		}
		p.threads[tid] = th
	}
	if !th.gone && th.checked != p.reads {
		th.checked = p.reads
		th.gone = processGone || taskGone(filepath.Join(dir, "stat"), th.start, false)
	}
	return th
}

// Close closes the counters; Read then returns the final rows if the
// process had exited before, and an error otherwise. Close is
// idempotent.
func (p *ProcessTarget) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	return p.set.close((*perfevent.ProcessCounter).Close)
}
