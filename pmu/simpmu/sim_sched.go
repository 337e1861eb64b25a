package simpmu

import (
	"math/bits"
	"sort"
	"time"

	"github.com/vpmu/vpmu/pmu"
)

// group is an open counter: events scheduled onto the counters together.
type group struct {
	events   []*event
	target   pmu.Target
	enabled  bool
	pinned   bool // the leader asked for pinning (:D)
	software bool // all events are software events: they need no counter
	order    uint64
	active   int   // CPU whose counters it is on, or -1
	err      error // ErrPinned while in the kernel's error state
	closed   bool
}

// event is one event of a group.
type event struct {
	ev      pmu.Event
	key     Key
	id      uint64
	count   uint64 // 64-bit count, folded on every delivery
	counter int    // physical counter while active, or -1
	allowed uint64 // counters it may use
	enabled time.Duration
	running time.Duration
}

// eligibleCPU returns the CPU on which g wants to be scheduled now, or -1:
// the target CPU of a CPU-wide counter, the CPU its task runs on (if the
// target allows that CPU), provided g is enabled and not in error.
func (s *Sim) eligibleCPU(g *group) int {
	if !g.enabled || g.closed || g.err != nil {
		return -1
	}
	if g.target.PID == -1 {
		return g.target.CPU
	}
	t := s.tasks[g.target.PID]
	if t == nil || t.cpu < 0 || (g.target.CPU >= 0 && g.target.CPU != t.cpu) {
		return -1
	}
	return t.cpu
}

// deactivate takes g off its counters.
func (s *Sim) deactivate(g *group) {
	if g.active < 0 {
		return
	}
	c := s.cpus[g.active]
	for _, e := range g.events {
		if e.counter >= 0 {
			c.assigned[e.counter] = nil
			e.counter = -1
		}
	}
	g.active = -1
}

// resched reschedules every group of cpu the way the kernel's
// ctx_sched_out/ctx_sched_in pair does: everything off, then pinned groups
// in order (a pinned group that does not fit goes to the error state),
// then flexible groups in rotation order until the first that does not
// fit; after that only software groups are scheduled, and the CPU asks for
// rotation. A group gets all its counters or none.
func (s *Sim) resched(cpu int) {
	c := s.cpus[cpu]
	var cands []*group
	for _, g := range s.groups {
		if g.active == cpu {
			s.deactivate(g)
		}
		if s.eligibleCPU(g) == cpu {
			cands = append(cands, g)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].pinned != cands[j].pinned {
			return cands[i].pinned
		}
		return cands[i].order < cands[j].order
	})
	var used uint64
	canAdd := true
	c.rotate = false
	for _, g := range cands {
		if g.software {
			g.active = cpu
			continue
		}
		if !g.pinned && !canAdd {
			c.rotate = true
			continue
		}
		slots, ok := assign(g.events, used)
		if !ok {
			if g.pinned {
				g.err = ErrPinned
				continue
			}
			canAdd = false
			c.rotate = true
			continue
		}
		for i, e := range g.events {
			if slots[i] >= 0 {
				e.counter = slots[i]
				c.assigned[slots[i]] = e
				used |= 1 << slots[i]
			}
		}
		g.active = cpu
	}
}

// assign finds counters for a group's hardware events given the counters
// already used: events with the fewest allowed counters first, each on the
// lowest free counter it may use (the kernel's greedy constraint
// scheduling). Software events get -1.
func assign(evs []*event, used uint64) ([]int, bool) {
	slots := make([]int, len(evs))
	order := make([]int, 0, len(evs))
	for i, e := range evs {
		slots[i] = -1
		if !isSoftware(e.ev) {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		return bits.OnesCount64(evs[order[a]].allowed) < bits.OnesCount64(evs[order[b]].allowed)
	})
	for _, i := range order {
		free := evs[i].allowed &^ used
		if free == 0 {
			return nil, false
		}
		n := bits.TrailingZeros64(free)
		slots[i] = n
		used |= 1 << n
	}
	return slots, true
}

func isSoftware(e pmu.Event) bool { return e.Kind == pmu.KindSoftware }

// rotate moves the first active flexible hardware group of each CPU that
// asked for rotation to the back of the order and reschedules the CPU, as
// the kernel's perf_rotate_context does at each multiplexing interval.
func (s *Sim) rotate() {
	for cpu, c := range s.cpus {
		if !c.rotate {
			continue
		}
		// The kernel rotates the first active flexible group, or the first
		// flexible group when none is active.
		var first, firstActive *group
		for _, g := range s.groups {
			if g.pinned || g.software || s.eligibleCPU(g) != cpu {
				continue
			}
			if first == nil || g.order < first.order {
				first = g
			}
			if g.active == cpu && (firstActive == nil || g.order < firstActive.order) {
				firstActive = g
			}
		}
		if firstActive != nil {
			first = firstActive
		}
		if first != nil {
			first.order = s.nextOrder
			s.nextOrder++
		}
		s.resched(cpu)
	}
}

// account adds d of simulated time to the enabled and running times of
// every group: enabled while it wants a CPU, running while it is on one.
func (s *Sim) account(d time.Duration) {
	for _, g := range s.groups {
		on := s.eligibleCPU(g) >= 0
		for _, e := range g.events {
			if on {
				e.enabled += d
			}
			if g.active >= 0 {
				e.running += d
			}
		}
	}
}
