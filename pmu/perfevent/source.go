package perfevent

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// openFunc is the signature of perf_event_open; tests substitute it to
// simulate kernels that refuse a combination this kernel accepts.
type openFunc func(attr *unix.PerfEventAttr, pid, cpu, groupFD, flags int) (int, error)

// Source opens counters with perf_event_open(2). It implements
// pmu.Source and pmu.Prober. A Source holds no kernel objects; it is safe
// for concurrent use.
type Source struct {
	userPage     bool
	untimedReads bool
	host         host
	open         openFunc
}

var (
	_ pmu.Source  = (*Source)(nil)
	_ pmu.Prober  = (*Source)(nil)
	_ pmu.Counter = (*Counter)(nil)
)

// Option configures a Source.
type Option func(*Source)

// WithUserPage makes counters on the calling thread (pmu.ThisThread, or
// the caller's own thread id) map the perf_event_mmap_page of every event
// and read through it: the seqlock loop with rdpmc and rdtsc, no system
// call. When the page says a count cannot be read from user space (always
// the case for software events, and for hardware events without
// cap_user_rdpmc), Read falls back to read(2); Counter.Stats says which
// path each read took.
//
// The caller must call runtime.LockOSThread before Open and read from
// that same thread: rdpmc reads the counter of the CPU it runs on, and
// only the thread the counter belongs to may use it.
func WithUserPage() Option { return func(s *Source) { s.userPage = true } }

// WithUntimedUserReads lets the user-page path serve reads on pages
// without cap_user_time (for example in a KVM guest whose sched_clock is
// kvm-clock). The count is then exact but Enabled and Running are the
// values of the kernel's last page update, not of the moment of the read.
// Without this option such reads fall back to read(2).
func WithUntimedUserReads() Option { return func(s *Source) { s.untimedReads = true } }

// withOpen substitutes perf_event_open (tests).
func withOpen(f openFunc) Option { return func(s *Source) { s.open = f } }

// New returns a perf_event Source.
func New(opts ...Option) *Source {
	s := &Source{host: realHost, open: unix.PerfEventOpen}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns "perf_event".
func (s *Source) Name() string { return "perf_event" }

// Open implements pmu.Source; it returns a *Counter.
func (s *Source) Open(g pmu.Group, t pmu.Target) (pmu.Counter, error) {
	c, err := s.OpenCounter(g, t)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Probe implements pmu.Prober: it opens e disabled on the calling thread
// and closes it again. It returns nil, a *pmu.NotSupportedError with the
// reason, or another error for a malformed event.
func (s *Source) Probe(e pmu.Event) error {
	c, err := s.openGroup(pmu.Group{Events: []pmu.Event{e}}, pmu.Target{PID: 0, CPU: -1, Disabled: true}, groupReadFormat, false, nil)
	if err != nil {
		return err
	}
	return c.Close()
}

// OpenCounter opens the group on the target as one perf group: the first
// event is the leader (group_fd -1), the others are attached to it, and
// every fd is close-on-exec.
//
// Targets: {PID: tid, CPU: -1} counts that thread, {PID: 0, CPU: -1} the
// calling thread, {PID: -1, CPU: n} everything on CPU n (privileged), and
// Inherit adds threads and processes the target creates after Open.
// To count every existing thread of a process use OpenProcess.
//
// With Inherit, kernels that refuse PERF_FORMAT_GROUP together with
// inherit (EINVAL) get the group reopened without GROUP in the read
// format; Read then reads each event's fd on its own, so the values are
// no longer one atomic snapshot (Counter.GroupRead reports which).
//
// An event that cannot be counted gives a *pmu.NotSupportedError naming
// it; nothing stays open after an error.
func (s *Source) OpenCounter(g pmu.Group, t pmu.Target) (*Counter, error) {
	if len(g.Events) == 0 {
		return nil, errors.New("perfevent: open: empty group")
	}
	if err := checkTarget(t); err != nil {
		return nil, fmt.Errorf("perfevent: open %s: %w", g, err)
	}
	c, err := s.openGroup(g, t, groupReadFormat, s.userPage, nil)
	if err != nil && t.Inherit && errors.Is(err, unix.EINVAL) {
		c, err = s.openGroup(g, t, singleReadFormat, s.userPage, nil)
	}
	return c, err
}

// openGroup opens every event of g with the given read format. tweak,
// if not nil, adjusts each event's attr before it is opened (sampling
// sets the leader's sample fields).
func (s *Source) openGroup(g pmu.Group, t pmu.Target, format uint64, userPage bool, tweak func(i int, a *unix.PerfEventAttr)) (_ *Counter, err error) {
	c := &Counter{
		group:  g,
		target: t,
		format: format,
		fds:    make([]int, 0, len(g.Events)),
		ids:    make([]uint64, 0, len(g.Events)),
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	pinned := groupPinned(g)
	// A group that should count from Open is opened disabled and then
	// enabled members-first (see Counter.Enable): opening members into
	// a running leader on the calling thread leaves them unscheduled.
	enable := !t.Disabled && !t.EnableOnExec
	openT := t
	openT.Disabled = true
	for i, e := range g.Events {
		a, err := attrFor(e, openT, i == 0, format, pinned)
		if err != nil {
			return nil, err
		}
		if tweak != nil {
			tweak(i, &a)
		}
		groupFD := -1
		if i > 0 {
			groupFD = c.fds[0]
		}
		fd, err := s.open(&a, t.PID, t.CPU, groupFD, openFlags)
		// :P asks for the highest precise_ip the PMU takes, as perf does:
		// try 3 and lower it while the kernel refuses the level.
		for err != nil && e.PreciseMax && preciseOf(a.Bits) > 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
			a.Bits = withPrecise(a.Bits, preciseOf(a.Bits)-1)
			fd, err = s.open(&a, t.PID, t.CPU, groupFD, openFlags)
		}
		if err != nil {
			return nil, diagnose(e, &a, t, err, s.host)
		}
		c.fds = append(c.fds, fd)
		c.precise = append(c.precise, preciseOf(a.Bits))
		id, err := unix.IoctlGetUint64(fd, unix.PERF_EVENT_IOC_ID)
		if err != nil {
			return nil, fmt.Errorf("event %q: ioctl PERF_EVENT_IOC_ID: %w", e.String(), err)
		}
		c.ids = append(c.ids, id)
	}
	c.buf = make([]byte, readFormatSize(format, len(g.Events)))
	c.rv.Values = make([]CountValue, 0, len(g.Events))
	if userPage && isSelf(t) {
		if err := c.mapPages(); err != nil {
			return nil, err
		}
		c.untimed = s.untimedReads
	}
	if enable {
		if err := c.Enable(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// isSelf reports whether t is the calling thread on any CPU.
func isSelf(t pmu.Target) bool {
	return t.CPU == -1 && (t.PID == 0 || t.PID == unix.Gettid())
}
