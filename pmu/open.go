package pmu

import (
	"errors"
	"fmt"
)

// OpenPartial opens group g with open. When open refuses the group because
// one of its events is not supported (a *NotSupportedError naming it), that
// event is left out and the rest of the group is opened again, as perf stat
// does, until what remains opens or nothing remains. A refusal that does not
// name one of the group's events leaves every remaining event out.
//
// It returns the counter of the events that opened (ok is false when none
// did), their indices in g.Events in order, and for each event of g the
// error that left it out (nil for counted events). Any other error from open
// is returned as err, and nothing is open.
func OpenPartial[C any](g Group, open func(Group) (C, error)) (c C, counted []int, errs []error, ok bool, err error) {
	errs = make([]error, len(g.Events))
	counted = make([]int, len(g.Events))
	for i := range counted {
		counted[i] = i
	}
	for len(counted) > 0 {
		sub := Group{Explicit: g.Explicit, Events: make([]Event, len(counted))}
		for i, k := range counted {
			sub.Events[i] = g.Events[k]
		}
		c, err = open(sub)
		if err == nil {
			return c, counted, errs, true, nil
		}
		var ns *NotSupportedError
		if !errors.As(err, &ns) {
			return c, nil, nil, false, fmt.Errorf("open %s: %w", sub, err)
		}
		drop := -1
		for i, k := range counted {
			if e := g.Events[k]; e.String() == ns.Event || e.Name == ns.Event {
				drop = i
				break
			}
		}
		if drop < 0 || len(counted) == 1 {
			for _, k := range counted {
				errs[k] = err
			}
			counted = nil
			break
		}
		errs[counted[drop]] = err
		counted = append(counted[:drop:drop], counted[drop+1:]...)
	}
	var zero C
	return zero, nil, errs, false, nil
}

// OpenSubset is OpenPartial for callers that keep their own table of
// events: it opens events as one group (explicit as in Group), leaving
// out the ones that are not supported. It returns the group that opened
// (no events when none did) and its counter, and for each of events its
// index in that group (-1 when it is not counted) and the error that
// left it out.
func OpenSubset[C any](explicit bool, events []Event, open func(Group) (C, error)) (sub Group, c C, index []int, errs []error, err error) {
	g := Group{Explicit: explicit, Events: events}
	c, counted, errs, ok, err := OpenPartial(g, open)
	if err != nil {
		return Group{}, c, nil, nil, err
	}
	index = make([]int, len(events))
	for i := range index {
		index[i] = -1
	}
	sub = Group{Explicit: explicit}
	if ok {
		sub.Events = make([]Event, len(counted))
		for i, k := range counted {
			sub.Events[i] = events[k]
			index[k] = i
		}
	}
	return sub, c, index, errs, nil
}
