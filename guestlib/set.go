package guestlib

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// Errors returned by a Set.
var (
	// ErrClosed is returned by the methods of a closed Set.
	ErrClosed = errors.New("guestlib: set is closed")
	// ErrWrongThread means a Set was used from another OS thread than
	// the one that opened it: the goroutine that called Open must do
	// every read (Open locks it to its thread for that reason).
	ErrWrongThread = errors.New("guestlib: set used from another thread than the one that opened it")
	// ErrShortBuffer means Read was given fewer Readings than the set has
	// events.
	ErrShortBuffer = errors.New("guestlib: fewer readings than events")
)

// Reading is one event's count, taken in one consistent snapshot with
// the other events of its group. Which event it is follows from its
// position: Set.Events lists them in the same order.
type Reading struct {
	// Value is the count; for task-clock and cpu-clock, nanoseconds.
	Value uint64
	// Enabled and Running are how long the group was enabled and how
	// long it actually counted (they differ when the kernel multiplexes
	// hardware counters; never inside vpmu).
	Enabled, Running time.Duration
}

// Option configures Open.
type Option func(*options)

type options struct {
	disabled, inherit, precise bool
}

// Disabled opens the counters stopped; Enable starts them.
func Disabled() Option { return func(o *options) { o.disabled = true } }

// Inherit makes threads the calling thread creates afterwards get the
// same counters, each counting for itself. Inside vpmu the inherited
// counters sit in the same slots of every thread, so that a thread's own
// read of them shows its own count.
func Inherit() Option { return func(o *options) { o.inherit = true } }

// Precise asks the vpmu hypervisor to count the instructions and
// branches of the spec exactly by single-stepping the thread while they
// are enabled: tens of microseconds per instruction, so enable them
// around short regions only. On plain Linux it has no effect: hardware
// counters count there, where the machine has a PMU.
func Precise() Option { return func(o *options) { o.precise = true } }

// Set is an open set of counters on the calling thread.
//
// Open locks the calling goroutine to its OS thread (runtime.LockOSThread)
// and Close unlocks it: the counters belong to that thread, so the Set
// must be used only from the goroutine that opened it, and only that
// goroutine's work is counted while it stays on its thread. A Set is not
// safe for concurrent use.
type Set struct {
	events []pmu.Event
	vm     *vmSet
	native *nativeSet
	closed bool
}

// Open opens the counters of spec, perf-style event text such as
// "task-clock,syscalls" or "{instructions,branches}", on the calling
// thread: inside the vpmu hypervisor through its paravirtual interface,
// on plain Linux with perf_event_open. An event that cannot be counted
// makes Open fail with a *pmu.NotSupportedError that says why; a bad
// spec gives a *pmu.SpecError.
func Open(spec string, opts ...Option) (*Set, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	parsed, err := pmu.ParseSpec(spec, nil)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	s := &Set{events: parsed.Events()}
	if InVM() {
		s.vm, err = openVM(spec, parsed, o)
	} else {
		s.native, err = openNative(parsed, o)
	}
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return s, nil
}

// Events returns the set's events in spec order; Read fills Readings in
// the same order.
func (s *Set) Events() []pmu.Event { return s.events }

// Read reads every event into dst (len(dst) >= len(s.Events())), each
// group as one consistent snapshot.
//
// Inside vpmu it is the direct read: loads from the thread's state page
// and one rdtsc, no system call and no VM exit (about 20-50 ns for four
// events). Until its snapshot is taken it runs only nosplit code, so the
// Go runtime cannot preempt it and slip its own system calls into a
// measured region that ends with a Read. When the program set its own
// GS base, Read falls back to the paravirtual call.
//
//go:nosplit
func (s *Set) Read(dst []Reading) error {
	switch {
	case s.closed:
		return ErrClosed
	case len(dst) < len(s.events):
		return ErrShortBuffer
	case s.vm != nil:
		return s.vm.read(dst)
	default:
		return s.native.read(dst)
	}
}

// ReadPV reads through the slow path: inside vpmu the paravirtual call
// (a VM exit; exact also for host hardware counters, which direct reads
// see as of the last thread switch). On plain Linux it is Read, which
// already falls back to read(2) whenever the user page cannot give the
// live count.
func (s *Set) ReadPV(dst []Reading) error {
	switch {
	case s.closed:
		return ErrClosed
	case len(dst) < len(s.events):
		return ErrShortBuffer
	case s.vm != nil:
		return s.vm.readPV(dst, false)
	default:
		return s.native.read(dst)
	}
}

// ReadInherited reads, through the slow path, each event's count plus
// the counts of every thread that inherited it from this one (live or
// exited). The set must have been opened with Inherit.
func (s *Set) ReadInherited(dst []Reading) error {
	switch {
	case s.closed:
		return ErrClosed
	case len(dst) < len(s.events):
		return ErrShortBuffer
	case s.vm != nil:
		return s.vm.readPV(dst, true)
	default:
		return fmt.Errorf("guestlib: ReadInherited: %w outside the vpmu hypervisor (perf_event counts inherited threads into the parent's counter: use Read)", pmu.ErrNotSupported)
	}
}

// Enable starts the counters.
func (s *Set) Enable() error { return s.control(ctlEnable) }

// Disable stops the counters; their counts stay.
func (s *Set) Disable() error { return s.control(ctlDisable) }

// Reset sets the counts to zero.
func (s *Set) Reset() error { return s.control(ctlReset) }

// Close releases the counters and unlocks the goroutine from its thread.
// Closing a closed Set does nothing.
func (s *Set) Close() error {
	if s.closed {
		return nil
	}
	err := s.control(ctlClose)
	s.closed = true
	runtime.UnlockOSThread()
	return err
}

type ctlOp int

const (
	ctlEnable ctlOp = iota
	ctlDisable
	ctlReset
	ctlClose
)

func (s *Set) control(op ctlOp) error {
	switch {
	case s.closed:
		return ErrClosed
	case s.vm != nil:
		return s.vm.control(op)
	default:
		return s.native.control(op)
	}
}
