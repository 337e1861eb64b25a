package guestlib

import (
	"fmt"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// nativeSet is a Set on plain Linux: one perf_event group per group of
// the spec on the calling thread, read through the mmap'd user page with
// rdpmc where the kernel allows it (cap_user_rdpmc) and read(2)
// otherwise (always for software events).
type nativeSet struct {
	groups []*perfevent.Counter
	// first[g] is the index of group g's first event in the set.
	first []int
	vals  []pmu.Value
}

func openNative(spec pmu.Spec, o options) (*nativeSet, error) {
	src := perfevent.New(perfevent.WithUserPage())
	target := pmu.Target{PID: 0, CPU: -1, Disabled: o.disabled, Inherit: o.inherit}
	n := &nativeSet{}
	next := 0
	for _, g := range spec.Groups {
		c, err := src.OpenCounter(g, target)
		if err != nil {
			n.control(ctlClose)
			return nil, err
		}
		n.groups = append(n.groups, c)
		n.first = append(n.first, next)
		next += len(g.Events)
	}
	n.vals = make([]pmu.Value, 0, next)
	return n, nil
}

func (n *nativeSet) read(dst []Reading) error {
	for g, c := range n.groups {
		vs, err := c.ReadInto(n.vals[:0])
		if err != nil {
			return err
		}
		for i, v := range vs {
			dst[n.first[g]+i] = Reading{Value: v.Raw, Enabled: v.Enabled, Running: v.Running}
		}
	}
	return nil
}

func (n *nativeSet) control(op ctlOp) error {
	var first error
	for _, c := range n.groups {
		var err error
		switch op {
		case ctlEnable:
			err = c.Enable()
		case ctlDisable:
			err = c.Disable()
		case ctlReset:
			err = c.Reset()
		case ctlClose:
			err = c.Close()
		}
		if err != nil && first == nil {
			first = fmt.Errorf("guestlib: %w", err)
		}
	}
	return first
}
