package perfevent

import (
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// livePage runs the self-monitoring read loop on a mapped
// perf_event_mmap_page, executing the real RDPMC and RDTSC. Every load
// from the page is atomic: on amd64 a plain MOV the compiler may not
// reorder, on arm64 a load-acquire, which together give the loop's
// barrier()s.
//
// Tests run the same loop on hookedPage (userpage_hooked_test.go), whose
// accessors let a fake kernel rewrite the page between any two steps and
// whose RDPMC and RDTSC are fakes. Its read method must have a body
// identical to livePage.read token for token, which a test enforces; the
// production loop thus carries no hooks (measured: a nil-checked hook per
// step doubled the loop's cost by forcing register spills).
type livePage struct{ page *unix.PerfEventMmapPage }

func (p livePage) lock() uint32         { return atomic.LoadUint32(&p.page.Lock) }
func (p livePage) index() uint32        { return atomic.LoadUint32(&p.page.Index) }
func (p livePage) offset() int64        { return atomic.LoadInt64(&p.page.Offset) }
func (p livePage) timeEnabled() uint64  { return atomic.LoadUint64(&p.page.Time_enabled) }
func (p livePage) timeRunning() uint64  { return atomic.LoadUint64(&p.page.Time_running) }
func (p livePage) capabilities() uint64 { return atomic.LoadUint64(&p.page.Capabilities) }
func (p livePage) timeOffset() uint64   { return atomic.LoadUint64(&p.page.Time_offset) }
func (p livePage) timeCycles() uint64   { return atomic.LoadUint64(&p.page.Time_cycles) }
func (p livePage) timeMask() uint64     { return atomic.LoadUint64(&p.page.Time_mask) }

func (p livePage) widthShiftMult() (width, shift uint16, mult uint32) {
	return loadWidthShiftMult(p.page)
}

func (p livePage) rdpmc(counter uint32) (uint64, bool) { return cpuRdpmc(counter) }
func (p livePage) rdtsc() (uint64, bool)               { return cpuRdtsc() }

// pageSnapshot is one consistent reading of a user page.
type pageSnapshot struct {
	// Count is offset plus, when Live, the sign-extended rdpmc value.
	Count uint64
	// Enabled and Running are in nanoseconds; extended to the moment of
	// the read when Timed.
	Enabled, Running uint64
	Index            uint32
	Caps             uint64
	// Live: index != 0, cap_user_rdpmc set and rdpmc executed, so Count
	// is the live count. Otherwise Count is the page's offset: the count
	// as of the kernel's last page update.
	Live bool
	// Timed: cap_user_time set and rdtsc executed, so Enabled and
	// Running are current rather than as of the last page update.
	Timed bool
	// Retries is how many times the lock changed under the reader.
	Retries int
}

// maxPageRetries bounds the seqlock loop. The kernel updates the page
// only on context switches, enables and overflows, so a handful of
// retries in a row means the reader is not the page's thread or the
// thread is being preempted continually; read(2) is then the better path.
const maxPageRetries = 64

// read runs the documented perf_event_mmap_page read loop
// (include/uapi/linux/perf_event.h). It differs from the header's sketch
// in two deliberate ways:
// it reads rdtsc whenever cap_user_time is set, not only when
// enabled != running, so that Enabled and Running are current; and it
// retries while the lock is odd, which matters only to a reader on
// another CPU than the writer. ok is false when the lock changed more
// than maxRetries times.
func (p livePage) read(maxRetries int) (s pageSnapshot, ok bool) {
	var (
		seq                uint32
		enabled, running   uint64
		caps               uint64
		idx                uint32
		count              int64
		pmc                uint64
		width, shift       uint16
		mult               uint32
		cyc, timeOff       uint64
		timeCyc, timeMask  uint64
		timed, live, short bool
	)
	for retries := 0; ; retries++ {
		if retries > maxRetries {
			s.Retries = retries - 1
			return s, false
		}
		seq = p.lock()
		if seq&1 != 0 {
			continue // an update is in progress on another CPU
		}
		enabled = p.timeEnabled()
		running = p.timeRunning()
		caps = p.capabilities()
		timed, live = false, false
		if caps&unix.PerfCapUserTime != 0 {
			if cyc, timed = p.rdtsc(); timed {
				width, shift, mult = p.widthShiftMult()
				timeOff = p.timeOffset()
				if short = caps&unix.PerfCapUserTimeShort != 0; short {
					timeCyc = p.timeCycles()
					timeMask = p.timeMask()
				}
			}
		}
		idx = p.index()
		count = p.offset()
		if caps&unix.PerfCapUserRdpmc != 0 && idx != 0 {
			width, _, _ = p.widthShiftMult()
			pmc, live = p.rdpmc(idx - 1)
		}
		if p.lock() == seq {
			s.Retries = retries
			break
		}
	}
	if live {
		if width > 0 && width < 64 {
			pmc = uint64(int64(pmc<<(64-width)) >> (64 - width))
		}
		count += int64(pmc)
	}
	if timed {
		if short {
			cyc = timeCyc + (cyc-timeCyc)&timeMask
		}
		delta := cyclesToNanos(cyc, shift, mult) + timeOff
		enabled += delta
		if idx != 0 {
			running += delta
		}
	}
	s.Count = uint64(count)
	s.Enabled, s.Running = enabled, running
	s.Index, s.Caps = idx, caps
	s.Live, s.Timed = live, timed
	return s, true
}

// cyclesToNanos is the page's clock conversion: quot*mult plus the
// remainder's share, without overflowing for large cycle counts.
func cyclesToNanos(cyc uint64, shift uint16, mult uint32) uint64 {
	if shift >= 64 {
		return 0
	}
	quot := cyc >> shift
	rem := cyc & (uint64(1)<<shift - 1)
	return quot*uint64(mult) + (rem*uint64(mult))>>shift
}
