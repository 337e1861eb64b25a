package perfevent

import (
	"errors"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// ReadPath says how a read was served.
type ReadPath uint8

const (
	// PathNone: no read yet.
	PathNone ReadPath = iota
	// PathSyscall: read(2) on the perf fd.
	PathSyscall
	// PathUserPage: the perf_event_mmap_page seqlock loop with rdpmc,
	// no system call.
	PathUserPage
)

func (p ReadPath) String() string {
	switch p {
	case PathSyscall:
		return "read(2)"
	case PathUserPage:
		return "user page"
	}
	return "none"
}

// FallbackReason says why a read on a counter with user pages used
// read(2).
type FallbackReason uint8

const (
	fallbackNone FallbackReason = iota
	// FallbackIndexZero: the page's index is 0, so the event is not on
	// a hardware counter this thread may read. Always the case for
	// software events, and for hardware events while not scheduled.
	FallbackIndexZero
	// FallbackNoRdpmc: cap_user_rdpmc is clear (sysfs rdpmc=0, or the
	// PMU does not allow it), or this architecture has no rdpmc here.
	FallbackNoRdpmc
	// FallbackNoUserTime: cap_user_time is clear, so enabled and running
	// cannot be brought up to date without the kernel, and
	// WithUntimedUserReads was not given.
	FallbackNoUserTime
	// FallbackRetries: the page's lock kept changing.
	FallbackRetries
	numFallbackReasons
)

func (r FallbackReason) String() string {
	switch r {
	case fallbackNone:
		return "none"
	case FallbackIndexZero:
		return "index 0 (not on a user-readable hardware counter)"
	case FallbackNoRdpmc:
		return "no cap_user_rdpmc"
	case FallbackNoUserTime:
		return "no cap_user_time"
	case FallbackRetries:
		return "seqlock retries exhausted"
	}
	return "unknown"
}

// ReadStats counts how a Counter's reads were served.
type ReadStats struct {
	// UserPage is the number of reads served entirely from user pages.
	UserPage uint64
	// Syscall is the number of reads that used read(2).
	Syscall uint64
	// Retries is the total number of seqlock retries in user-page reads
	// (including attempts that then fell back).
	Retries uint64
	// Fallbacks counts the reads that tried the user page and fell
	// back, by reason (indexed by FallbackReason).
	Fallbacks [numFallbackReasons]uint64
	// Last is the path of the most recent read.
	Last ReadPath
	// LastFallback is the reason of the most recent fallback.
	LastFallback FallbackReason
}

// Fallback returns the number of fallbacks for reason r.
func (s ReadStats) Fallback(r FallbackReason) uint64 {
	if r >= numFallbackReasons {
		return 0
	}
	return s.Fallbacks[r]
}

// Stats returns the read statistics so far.
func (c *Counter) Stats() ReadStats { return c.stats }

// UserPages reports whether the counter reads through user pages.
func (c *Counter) UserPages() bool { return c.pages != nil }

// mapPages maps the user page of every fd.
func (c *Counter) mapPages() error {
	c.pages = make([]mappedPage, 0, len(c.fds))
	for _, fd := range c.fds {
		m, err := mapUserPage(fd)
		if err != nil {
			return err
		}
		c.pages = append(c.pages, m)
	}
	return nil
}

func (c *Counter) unmapPages() error {
	var errs []error
	for i := range c.pages {
		errs = append(errs, c.pages[i].unmap())
	}
	c.pages = nil
	return errors.Join(errs...)
}

// readUserPages serves a read from the user pages when every event's
// page allows it. It returns fallbackNone and the values on success, or
// the reason the caller must use read(2).
func (c *Counter) readUserPages(dst []pmu.Value) ([]pmu.Value, FallbackReason) {
	for i, e := range c.group.Events {
		s, ok := livePage{c.pages[i].page}.read(maxPageRetries)
		c.stats.Retries += uint64(s.Retries)
		if r := usable(s, ok, c.untimed); r != fallbackNone {
			return dst, r
		}
		dst = append(dst, pmu.Value{Event: e, Raw: s.Count, Enabled: time.Duration(s.Enabled), Running: time.Duration(s.Running), ID: c.ids[i]})
	}
	return dst, fallbackNone
}

// usable decides whether a page snapshot is a correct current value.
func usable(s pageSnapshot, ok, untimed bool) FallbackReason {
	switch {
	case !ok:
		return FallbackRetries
	case s.Index == 0:
		return FallbackIndexZero
	case s.Caps&unix.PerfCapUserRdpmc == 0 || !s.Live:
		return FallbackNoRdpmc
	case !s.Timed && !untimed:
		return FallbackNoUserTime
	}
	return fallbackNone
}

// UserPageState is what one event's perf_event_mmap_page says, for
// diagnostics (vpmu list, tests, PERFORMANCE.md).
type UserPageState struct {
	Event string
	// Index is the page's index: 0 means not on a user-readable
	// hardware counter.
	Index uint32
	// Offset is the page's offset, the count as of the kernel's last
	// page update when Index is 0.
	Offset int64
	// Enabled and Running are the page's times as of its last update.
	Enabled, Running time.Duration
	// Caps are the raw capability bits.
	Caps uint64
	// CapUserRdpmc, CapUserTime, CapUserTimeZero, CapUserTimeShort
	// decode Caps.
	CapUserRdpmc, CapUserTime, CapUserTimeZero, CapUserTimeShort bool
	// PMCWidth is the counter width for sign extension.
	PMCWidth uint16
	// Lock is the seqlock's value: how many half-updates the kernel
	// made (two per update).
	Lock uint32
}

// PageStates returns the current user-page state of every event, or nil
// when the counter has no user pages. It reads the raw fields under the
// seqlock and executes no RDPMC or RDTSC, so any thread may call it.
func (c *Counter) PageStates() []UserPageState {
	if c.pages == nil {
		return nil
	}
	out := make([]UserPageState, len(c.pages))
	for i, m := range c.pages {
		var st UserPageState
		for tries := 0; tries < maxPageRetries; tries++ {
			p := livePage{m.page}
			seq := p.lock()
			st = UserPageState{
				Event:   c.group.Events[i].String(),
				Index:   p.index(),
				Offset:  p.offset(),
				Enabled: time.Duration(p.timeEnabled()),
				Running: time.Duration(p.timeRunning()),
				Caps:    p.capabilities(),
				Lock:    seq,
			}
			st.PMCWidth, _, _ = p.widthShiftMult()
			if seq&1 == 0 && p.lock() == seq {
				break
			}
		}
		st.CapUserRdpmc = st.Caps&unix.PerfCapUserRdpmc != 0
		st.CapUserTime = st.Caps&unix.PerfCapUserTime != 0
		st.CapUserTimeZero = st.Caps&unix.PerfCapUserTimeZero != 0
		st.CapUserTimeShort = st.Caps&unix.PerfCapUserTimeShort != 0
		out[i] = st
	}
	return out
}
