package perfevent

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// Counter is an open perf group on one target. Its methods must be
// called from one goroutine at a time (Close included). Close may be
// called more than once.
type Counter struct {
	group  pmu.Group
	target pmu.Target
	format uint64   // read format the group was opened with
	fds    []int    // fds[0] is the leader; guarded by single-goroutine use
	ids    []uint64 // PERF_EVENT_IOC_ID of fds[i]
	// precise is the precise_ip each event was opened with (lower than
	// asked for an event with PreciseMax on a PMU that refused more).
	precise []uint8

	buf []byte     // read(2) buffer, sized for format
	rv  ReadValues // decode scratch

	pages   []mappedPage // user pages (WithUserPage on the calling thread), else nil
	untimed bool         // accept user-page reads without cap_user_time
	stats   ReadStats

	closed bool
}

// Group returns the group the counter was opened with.
func (c *Counter) Group() pmu.Group { return c.group }

// Target returns the target the counter was opened on.
func (c *Counter) Target() pmu.Target { return c.target }

// FDs returns the perf fds, leader first. They stay owned by the Counter.
func (c *Counter) FDs() []int { return c.fds }

// IDs returns the kernel's ID of each event, in group order.
func (c *Counter) IDs() []uint64 { return c.ids }

// PreciseIP returns the precise_ip each event was opened with, in group
// order.
func (c *Counter) PreciseIP() []uint8 { return c.precise }

// GroupRead reports whether one read(2) returns the whole group as an
// atomic snapshot (PERF_FORMAT_GROUP). It is false only when the kernel
// refused GROUP together with inherit.
func (c *Counter) GroupRead() bool { return c.format&unix.PERF_FORMAT_GROUP != 0 }

// Read returns one Value per event, in group order.
func (c *Counter) Read() ([]pmu.Value, error) {
	return c.ReadInto(nil)
}

// ReadInto is Read writing into dst's storage: it returns dst[:0] with
// one Value per event appended, and does not allocate when cap(dst) is
// large enough.
func (c *Counter) ReadInto(dst []pmu.Value) ([]pmu.Value, error) {
	if c.closed {
		return dst[:0], ErrClosed
	}
	if c.pages != nil {
		out, reason := c.readUserPages(dst[:0])
		if reason == fallbackNone {
			c.stats.UserPage++
			c.stats.Last = PathUserPage
			return out, nil
		}
		c.stats.Fallbacks[reason]++
		c.stats.LastFallback = reason
	}
	c.stats.Syscall++
	c.stats.Last = PathSyscall
	return c.readSyscall(dst[:0])
}

// readSyscall reads the group with read(2).
func (c *Counter) readSyscall(dst []pmu.Value) ([]pmu.Value, error) {
	if !c.GroupRead() {
		return c.readEach(dst)
	}
	if err := c.readFD(c.fds[0]); err != nil {
		return dst, err
	}
	if len(c.rv.Values) != len(c.group.Events) {
		return dst, fmt.Errorf("read %s: kernel returned %d values for %d events", c.group, len(c.rv.Values), len(c.group.Events))
	}
	en, run := time.Duration(c.rv.Enabled), time.Duration(c.rv.Running)
	for i, e := range c.group.Events {
		v, ok := c.valueByID(c.ids[i], i)
		if !ok {
			return dst, fmt.Errorf("read %s: no value with the id %d of event %q", c.group, c.ids[i], e.String())
		}
		dst = append(dst, pmu.Value{Event: e, Raw: v.Value, Enabled: en, Running: run, ID: v.ID})
	}
	return dst, nil
}

// valueByID finds the value with the given id, trying position hint
// first (the kernel lists the leader then siblings in open order).
func (c *Counter) valueByID(id uint64, hint int) (CountValue, bool) {
	if hint < len(c.rv.Values) && c.rv.Values[hint].ID == id {
		return c.rv.Values[hint], true
	}
	for _, v := range c.rv.Values {
		if v.ID == id {
			return v, true
		}
	}
	return CountValue{}, false
}

// readEach reads every fd on its own (no PERF_FORMAT_GROUP).
func (c *Counter) readEach(dst []pmu.Value) ([]pmu.Value, error) {
	for i, e := range c.group.Events {
		if err := c.readFD(c.fds[i]); err != nil {
			return dst, err
		}
		if len(c.rv.Values) != 1 || c.rv.Values[0].ID != c.ids[i] {
			return dst, fmt.Errorf("read event %q: value does not carry its id %d", e.String(), c.ids[i])
		}
		v := c.rv.Values[0]
		dst = append(dst, pmu.Value{Event: e, Raw: v.Value, Enabled: time.Duration(c.rv.Enabled), Running: time.Duration(c.rv.Running), ID: v.ID})
	}
	return dst, nil
}

// readFD reads one struct read_format from fd into c.rv.
func (c *Counter) readFD(fd int) error {
	for {
		n, err := unix.Read(fd, c.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", c.group, os.NewSyscallError("read", err))
		}
		if _, err := decodeReadFormat(c.buf[:n], c.format, len(c.group.Events), &c.rv); err != nil {
			return fmt.Errorf("read %s: %w", c.group, err)
		}
		return nil
	}
}

// Enable starts the whole group: it enables the members one by one and
// the leader last, each without PERF_IOC_FLAG_GROUP.
//
// The order matters. Measured on Linux 6.18 here: when a group on the
// calling thread has a leader on one software PMU (task-clock, cpu-clock)
// and members on another (page-faults, context-switches), enabling the
// leader first, which is what PERF_IOC_FLAG_GROUP does, reschedules only
// the leader's PMU, and the members stay unscheduled (silently counting
// nothing, with running time 0) until the thread's next context switch.
// Members enabled while the leader is off just become ready; enabling the
// leader then schedules the whole group.
func (c *Counter) Enable() error {
	if c.closed {
		return ErrClosed
	}
	for i := len(c.fds) - 1; i >= 0; i-- {
		if err := unix.IoctlSetInt(c.fds[i], unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			return fmt.Errorf("enable %q of %s: %w", c.group.Events[i].String(), c.group, os.NewSyscallError("ioctl", err))
		}
	}
	return nil
}

// Disable stops the whole group.
func (c *Counter) Disable() error { return c.ioctl("disable", unix.PERF_EVENT_IOC_DISABLE) }

// Reset sets the group's counts to zero. The kernel does not reset the
// enabled and running times.
func (c *Counter) Reset() error { return c.ioctl("reset", unix.PERF_EVENT_IOC_RESET) }

func (c *Counter) ioctl(what string, req uint) error {
	if c.closed {
		return ErrClosed
	}
	if err := unix.IoctlSetInt(c.fds[0], req, unix.PERF_IOC_FLAG_GROUP); err != nil {
		return fmt.Errorf("%s %s: %w", what, c.group, os.NewSyscallError("ioctl", err))
	}
	return nil
}

// Close unmaps the user pages and closes every fd, members before the
// leader. It is idempotent; the second and later calls return nil.
func (c *Counter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	errs = append(errs, c.unmapPages())
	for i := len(c.fds) - 1; i >= 0; i-- {
		if err := unix.Close(c.fds[i]); err != nil {
			errs = append(errs, fmt.Errorf("close perf fd %d: %w", c.fds[i], err))
		}
	}
	return errors.Join(errs...)
}
