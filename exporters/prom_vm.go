package exporters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
)

// DefaultExitedThreadTTL is how long a VMTarget keeps the series of an
// exited guest thread when VMOptions.ExitedThreadTTL is zero.
const DefaultExitedThreadTTL = 5 * time.Minute

// vmExitedThreadsListed is how many exited threads the virtual PMU of a
// VM served with per-thread rows lists (VMExitedThreads).
const vmExitedThreadsListed = 1024

// VMExitedThreads returns the hypervisor.VPMUConfig.ExitedThreads of a
// VM that a VMTarget with VMOptions.PerThread perThread serves for as
// long as the program runs (vpmu run --metrics): it bounds the memory
// and the cost of a scrape of a program that creates threads without
// end. Without per-thread rows the target needs no exited thread (the
// totals include them all): none is kept. With them the target keeps an
// exited thread's final counts itself, for ExitedThreadTTL, from the
// first Read that finds it exited; the virtual PMU lists the 1024 that
// exited last, so that a thread's final counts are seen unless more
// than 1024 threads exit between two scrapes.
func VMExitedThreads(perThread bool) int {
	if perThread {
		return vmExitedThreadsListed
	}
	return -1
}

// LabelVM is the identity label of a VM target.
const LabelVM = "vm"

// VMOptions configures a VMTarget.
type VMOptions struct {
	// Name is the value of the vm label on every metric of the VM. It
	// must be a non-empty UTF-8 string.
	Name string
	// PerThread adds one row per guest thread and event, labeled tid and
	// comm (opt-in, like the native targets' PerThread): each thread
	// adds 6 series per event. Without it the VM has totals and per-VCPU
	// rows only.
	PerThread bool
	// ExitedThreadTTL is how long the rows of an exited thread stay,
	// with their final counts and ErrTargetExited, counted from the
	// first Read that found the thread exited. Zero means
	// DefaultExitedThreadTTL; a negative value keeps them for the life
	// of the target.
	ExitedThreadTTL time.Duration
	// Now is the clock of ExitedThreadTTL; nil means time.Now.
	Now func() time.Time
}

// vmSource is what a VMTarget reads: a VM of the vpmu hypervisor and its
// virtual PMU (hvSource), or a fake in tests. Every method must be safe
// for concurrent use, also while the VM runs.
type vmSource interface {
	// Threads returns the program's live threads and all it ever had.
	Threads() (live, created int)
	// Counts returns the counts, with the per-thread rows when
	// perThread (hypervisor.VPMU.Counts, else TotalCounts).
	Counts(perThread bool) hypervisor.VPMUCounts
	VCPUExits() []hypervisor.VCPUExits
	Stats() hypervisor.Stats
	Calibration() hypervisor.Calibration
	// HostKind is the KVM host's kind ("vmx", "svm", "pvm").
	HostKind() string
}

// hvSource adapts a VM to vmSource.
type hvSource struct {
	vm *hypervisor.VM
	u  *hypervisor.VPMU
}

func (s hvSource) Threads() (int, int)                 { return s.u.Threads() }
func (s hvSource) VCPUExits() []hypervisor.VCPUExits   { return s.u.VCPUExits() }
func (s hvSource) Stats() hypervisor.Stats             { return s.vm.Stats() }
func (s hvSource) HostKind() string                    { return s.vm.Host().Kind.String() }
func (s hvSource) Calibration() hypervisor.Calibration { return s.u.Calibration() }

func (s hvSource) Counts(perThread bool) hypervisor.VPMUCounts {
	if perThread {
		return s.u.Counts()
	}
	return s.u.TotalCounts()
}

// VMTarget is a PromTarget for a VM of the vpmu hypervisor: the events of
// its VPMUConfig.Spec, counted by the virtual PMU. Its identity is
// {target="vm", vm=Name}. Each Read returns, per event:
//
//   - a VM total row without labels (every thread the program ever had,
//     exited ones included);
//   - one row per VCPU, labeled vcpu (what the VCPU counted, whichever
//     thread ran on it);
//   - with PerThread, one row per guest thread, labeled tid and comm
//     (the thread's name when it was first seen).
//
// An event the VM cannot count is one row, in the totals, with its
// *pmu.NotSupportedError. A thread that exited keeps its final counts,
// with ErrTargetExited, for VMOptions.ExitedThreadTTL; its rows are then
// left out. The target keeps those final counts itself, so the VM's
// virtual PMU need not list the thread that long: a VM that serves a
// long-running program should bound what it lists with
// VPMUConfig.ExitedThreads = VMExitedThreads(PerThread). A thread the
// virtual PMU stopped listing before any Read found it exited has no
// final rows: its rows go at once. Once the program has ended (no thread
// left), every row is final and carries ErrTargetExited.
//
// Without PerThread a Read costs the same whatever the number of threads
// that exited: it reads the VM's totals, which include them, and the
// live threads.
//
// The VM never multiplexes: Enabled and Running are the guest time of
// the thread, VCPU or VM, always equal.
//
// VMMCollector exports what the VMM itself counts (exits by reason,
// sandbox refusals, calibration, threads, memory). docs/metrics.md
// describes both.
//
// Like every PromTarget, Read must not be called concurrently; the
// VMM collector may be collected concurrently with Read.
type VMTarget struct {
	src  vmSource
	opts VMOptions

	names      []string  // event names, from the first Counts
	vcpuLabels [][]Label // by VCPU
	rows       []Row     // Read's result, reused

	// threads are the guest threads the target knows, by TID, and in
	// order the same, in the order it first saw them: those the last
	// counts listed, and the exited ones it still serves after the
	// virtual PMU stopped listing them. read counts the Reads.
	threads map[int]*vmThread
	order   []*vmThread
	read    uint64
}

// vmThread is what a VMTarget remembers about one guest thread.
type vmThread struct {
	tid    int
	labels []Label // {tid, comm}
	// listed is the last Read whose counts listed the thread.
	listed uint64
	// exitedAt is when a Read first found the thread exited, and final
	// its counts then (shared with the VPMUCounts they came from, never
	// written).
	exitedAt time.Time
	final    []pmu.Value
	// dropped: the TTL is over, the thread has no rows any more.
	dropped bool
}

// NewVMTarget returns a target reading vm's virtual PMU. Create it after
// hypervisor.New and before or during Run; it reads nothing until its
// first Read. It fails when the VM's virtual PMU is off or opts.Name is
// not a valid label value.
func NewVMTarget(vm *hypervisor.VM, opts VMOptions) (*VMTarget, error) {
	if vm == nil {
		return nil, errors.New("exporters: VM target: no VM")
	}
	u := vm.VPMU()
	if u == nil {
		return nil, fmt.Errorf("exporters: VM target %q: the VM's virtual PMU is off (VPMUConfig.Off)", opts.Name)
	}
	return newVMTarget(hvSource{vm: vm, u: u}, opts)
}

func newVMTarget(src vmSource, opts VMOptions) (*VMTarget, error) {
	if opts.Name == "" || !prometheusLabelValueOK(opts.Name) {
		return nil, fmt.Errorf("exporters: VM target: name %q: want a non-empty UTF-8 string", opts.Name)
	}
	if opts.ExitedThreadTTL == 0 {
		opts.ExitedThreadTTL = DefaultExitedThreadTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &VMTarget{src: src, opts: opts}, nil
}

// Info returns {target="vm", vm=Name}.
func (t *VMTarget) Info() PromTargetInfo {
	return PromTargetInfo{Kind: "vm", Labels: []Label{{LabelVM, t.opts.Name}}}
}

// Name returns the vm label's value.
func (t *VMTarget) Name() string { return t.opts.Name }

// Read implements PromTarget. It reads the live counts without stopping
// the VM. The returned rows are valid until the next Read.
func (t *VMTarget) Read(ctx context.Context) ([]Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Threads before Counts: when the program had ended before the
	// counts were taken, they are final.
	live, created := t.src.Threads()
	var final error
	if created > 0 && live == 0 {
		final = ErrTargetExited
	}
	c := t.src.Counts(t.opts.PerThread)
	if len(c.Errs) != len(c.Events) || len(c.Total) != len(c.Events) {
		return nil, fmt.Errorf("VM %q: inconsistent counts: %d events, %d errors, %d totals", t.opts.Name, len(c.Events), len(c.Errs), len(c.Total))
	}
	if len(t.names) != len(c.Events) {
		t.names = make([]string, len(c.Events))
		for i, e := range c.Events {
			t.names[i] = e.String()
		}
	}
	rows := t.rows[:0]
	for i, v := range c.Total {
		if c.Errs[i] != nil {
			rows = append(rows, Row{Event: t.names[i], Value: pmu.Value{Event: c.Events[i]}, Err: c.Errs[i]})
			continue
		}
		rows = append(rows, Row{Event: t.names[i], Value: v, Err: final})
	}
	for _, vc := range c.VCPUs {
		ls := t.vcpuLabel(vc.VCPU)
		rows = appendCounted(rows, t.names, c.Errs, ls, vc.Values, final)
	}
	if t.opts.PerThread {
		rows = t.appendThreads(rows, c, final)
	}
	t.rows = rows
	return rows, nil
}

// appendThreads appends the rows of the threads of c, then those of the
// exited threads c no longer lists whose TTL is not over, and forgets
// the others.
func (t *VMTarget) appendThreads(rows []Row, c hypervisor.VPMUCounts, final error) []Row {
	now := t.opts.Now()
	t.read++
	expired := func(st *vmThread) bool {
		return t.opts.ExitedThreadTTL > 0 && now.Sub(st.exitedAt) >= t.opts.ExitedThreadTTL
	}
	for k := range c.Threads {
		th := &c.Threads[k]
		st := t.thread(th)
		st.listed = t.read
		if st.dropped {
			continue
		}
		err := final
		if th.Exited {
			if st.exitedAt.IsZero() {
				st.exitedAt, st.final = now, th.Values
			} else if expired(st) {
				st.dropped, st.final = true, nil
				continue
			}
			err = ErrTargetExited
		}
		rows = appendCounted(rows, t.names, c.Errs, st.labels, th.Values, err)
	}
	kept := t.order[:0]
	for _, st := range t.order {
		switch {
		case st.listed == t.read:
		case st.final != nil && !expired(st):
			rows = appendCounted(rows, t.names, c.Errs, st.labels, st.final, ErrTargetExited)
		default:
			delete(t.threads, st.tid)
			continue
		}
		kept = append(kept, st)
	}
	clear(t.order[len(kept):])
	t.order = kept
	return rows
}

// appendCounted appends a row per counted event of one VCPU or thread.
func appendCounted(rows []Row, names []string, errs []error, labels []Label, vals []pmu.Value, err error) []Row {
	for i, v := range vals {
		if i < len(errs) && errs[i] == nil {
			rows = append(rows, Row{Labels: labels, Event: names[i], Value: v, Err: err})
		}
	}
	return rows
}

// vcpuLabel returns the labels of VCPU id's rows, made once.
func (t *VMTarget) vcpuLabel(id int) []Label {
	for len(t.vcpuLabels) <= id {
		t.vcpuLabels = append(t.vcpuLabels, []Label{VCPULabel(len(t.vcpuLabels))})
	}
	return t.vcpuLabels[id]
}

// thread returns the state of a thread of the counts, learning its
// labels the first time (TIDs are never reused within a VM).
func (t *VMTarget) thread(th *hypervisor.VPMUThreadCounts) *vmThread {
	if st := t.threads[th.TID]; st != nil {
		return st
	}
	if t.threads == nil {
		t.threads = map[int]*vmThread{}
	}
	st := &vmThread{tid: th.TID, labels: []Label{{LabelTID, strconv.Itoa(th.TID)}, {LabelComm, th.Comm}}}
	t.threads[th.TID] = st
	t.order = append(t.order, st)
	return st
}
