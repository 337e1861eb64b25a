package cli

import (
	"fmt"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/pmu"
)

// session holds the open counters of one vpmu stat run: one counter per
// group of the spec, and one slot per event in the order written.
//
// Events that cannot be counted do not end the run, as in perf: a group
// is reopened without the event a source reports as not supported, and
// that event's slot keeps the reason. Any other open error ends the run.
type session struct {
	slots  []slot
	groups []*liveGroup
}

// slot is one event of the spec.
type slot struct {
	name  string
	event pmu.Event
	// err is why the event is not counted (a *pmu.NotSupportedError),
	// or nil when live holds it.
	err   error
	live  *liveGroup
	index int // position of the event in live's group
}

// liveGroup is an opened group: what was actually opened, which can be
// fewer events than written.
type liveGroup struct {
	group   pmu.Group
	counter pmu.Counter
}

// openSession opens every group of spec with open. On error, whatever
// was opened is closed.
func openSession(spec pmu.Spec, open func(pmu.Group) (pmu.Counter, error)) (*session, error) {
	s := &session{}
	for _, g := range spec.Groups {
		var pending []int // slot indices still to open
		for _, e := range g.Events {
			sl := slot{name: e.String(), event: e}
			if e.Kind == pmu.KindVirtual {
				sl.err = &pmu.NotSupportedError{Event: e.String(), Reason: pmu.ReasonVirtualOnly}
			} else {
				pending = append(pending, len(s.slots))
			}
			s.slots = append(s.slots, sl)
		}
		if err := s.openGroup(g.Explicit, pending, open); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// openGroup opens the pending slots as one group, dropping the events
// the source reports as not supported (pmu.OpenPartial).
func (s *session) openGroup(explicit bool, pending []int, open func(pmu.Group) (pmu.Counter, error)) error {
	if len(pending) == 0 {
		return nil
	}
	events := make([]pmu.Event, len(pending))
	for i, si := range pending {
		events[i] = s.slots[si].event
	}
	sub, c, index, errs, err := pmu.OpenSubset(explicit, events, open)
	if err != nil {
		return err
	}
	var lg *liveGroup
	if len(sub.Events) > 0 {
		lg = &liveGroup{group: sub, counter: c}
		s.groups = append(s.groups, lg)
	}
	for i, si := range pending {
		s.slots[si].err = errs[i]
		if index[i] >= 0 {
			s.slots[si].live, s.slots[si].index = lg, index[i]
		}
	}
	return nil
}

// read reads every counter once and returns one row per event, in the
// order the events were written. A group that fails to read gives its
// events a row with the error (shown as <not counted>).
func (s *session) read() []exporters.Row {
	type reading struct {
		values []pmu.Value
		err    error
	}
	readings := make(map[*liveGroup]reading, len(s.groups))
	for _, lg := range s.groups {
		vs, err := lg.counter.Read()
		if err == nil && len(vs) != len(lg.group.Events) {
			err = fmt.Errorf("source returned %d values for %d events", len(vs), len(lg.group.Events))
		}
		if err != nil {
			err = fmt.Errorf("read %s: %w", lg.group, err)
		}
		readings[lg] = reading{vs, err}
	}
	rows := make([]exporters.Row, len(s.slots))
	for i, sl := range s.slots {
		row := exporters.Row{Event: sl.name, Value: pmu.Value{Event: sl.event}, Err: sl.err}
		if sl.live != nil {
			r := readings[sl.live]
			if r.err != nil {
				row.Err = r.err
			} else {
				row.Value = r.values[sl.index]
				row.Value.Event = sl.event
			}
		}
		rows[i] = row
	}
	return rows
}

// close closes every counter and returns the first error.
func (s *session) close() error {
	var first error
	for _, lg := range s.groups {
		if err := lg.counter.Close(); err != nil && first == nil {
			first = fmt.Errorf("close %s: %w", lg.group, err)
		}
	}
	s.groups = nil
	return first
}
