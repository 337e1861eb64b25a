package exporters

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/pmu"
)

// The native targets count with the Linux perf_event backend
// (pmu/perfevent): a process (ProcessTarget), a cgroup or every CPU
// (CPUSetTarget). They open their counters once, when created, and read
// them on every scrape.

// errTargetClosed is the error of reading a native target after Close.
var errTargetClosed = errors.New("target closed")

// nativeSlot is one event of a native target's spec: where it is
// counted, or why it is not.
type nativeSlot struct {
	name  string
	event pmu.Event
	err   error // a *pmu.NotSupportedError when the event is not counted
	group int   // index in nativeSet.groups when err is nil
	index int   // position of the event in that group
}

// nativeGroup is one opened group: the events actually opened, which can
// be fewer than written.
type nativeGroup[C any] struct {
	group   pmu.Group
	counter C
}

// nativeSet is the opened spec of a native target, with counters of type
// C (a process counter, or one counter per CPU).
type nativeSet[C any] struct {
	slots  []nativeSlot
	groups []nativeGroup[C]
}

// openNative opens every group of spec with open. As in vpmu stat, a
// group is reopened without each event the backend reports as not
// supported, and that event's slot keeps the reason; any other error
// closes what was opened and is returned.
func openNative[C any](spec pmu.Spec, open func(pmu.Group) (C, error), closeC func(C) error) (*nativeSet[C], error) {
	if len(spec.Groups) == 0 {
		return nil, errors.New("no events to count")
	}
	s := &nativeSet[C]{}
	for _, g := range spec.Groups {
		pending := make([]int, 0, len(g.Events))
		for _, e := range g.Events {
			pending = append(pending, len(s.slots))
			s.slots = append(s.slots, nativeSlot{name: e.String(), event: e, group: -1})
		}
		if err := s.openGroup(g.Explicit, pending, open); err != nil {
			s.close(closeC)
			return nil, err
		}
	}
	return s, nil
}

// openGroup opens the pending slots as one group, dropping unsupported
// events (pmu.OpenPartial).
func (s *nativeSet[C]) openGroup(explicit bool, pending []int, open func(pmu.Group) (C, error)) error {
	events := make([]pmu.Event, len(pending))
	for i, si := range pending {
		events[i] = s.slots[si].event
	}
	sub, c, index, errs, err := pmu.OpenSubset(explicit, events, open)
	if err != nil {
		return err
	}
	for i, si := range pending {
		s.slots[si].err = errs[i]
		if index[i] >= 0 {
			s.slots[si].group, s.slots[si].index = len(s.groups), index[i]
		}
	}
	if len(sub.Events) > 0 {
		s.groups = append(s.groups, nativeGroup[C]{group: sub, counter: c})
	}
	return nil
}

// unsupported returns a row for each event that is not counted, with
// the given labels.
func (s *nativeSet[C]) unsupported(labels []Label) []Row {
	var rows []Row
	for _, sl := range s.slots {
		if sl.err != nil {
			rows = append(rows, Row{Labels: labels, Event: sl.name, Value: pmu.Value{Event: sl.event}, Err: sl.err})
		}
	}
	return rows
}

// close closes every counter and returns the errors joined.
func (s *nativeSet[C]) close(closeC func(C) error) error {
	var errs []error
	for _, g := range s.groups {
		if err := closeC(g.counter); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", g.group, err))
		}
	}
	s.groups = nil
	return errors.Join(errs...)
}

// sumValues adds each value of src to dst, which has one value per
// event: raw counts, enabled and running times are summed, the way perf
// aggregates the CPUs or threads of a counter.
func sumValues(dst, src []pmu.Value) {
	for i := range dst {
		dst[i].Raw += src[i].Raw
		dst[i].Enabled += src[i].Enabled
		dst[i].Running += src[i].Running
	}
}
