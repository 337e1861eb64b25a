package hypervisor

import (
	"fmt"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// specState is VPMUConfig.Spec in the VM: its events, where each is
// counted, and the counter slots it takes in every thread. The VMM's own
// counters share one time slot (slot 0), which gives every event its
// enabled and running time; the events follow in order.
type specState struct {
	events []pmu.Event
	binds  []binding
	// errs holds, per event, nil or why it is not counted (a
	// *pmu.NotSupportedError).
	errs []error
	// slots is each event's counter slot, -1 when not counted.
	slots []int
	// timeSlot is the shared time slot, -1 when no event is counted.
	timeSlot int
	// nodes and timeNode are the main thread's counters, the roots of
	// the inheritance trees (set by attachMain; vpmu.mu).
	nodes    []*ctrNode
	timeNode *ctrNode
}

// maxSpecEvents is how many events VPMUConfig.Spec can count: every slot
// but the time slot.
const maxSpecEvents = virt.MaxCounters - 1

// bindSpec decides where each event of spec is counted.
func (p *vpmu) bindSpec(spec pmu.Spec, precise bool) specState {
	s := specState{timeSlot: -1}
	var probe pmuHostProber
	if p.host != nil {
		probe = p.host.probe
	}
	next := 1
	for _, e := range spec.Events() {
		b, err := bindEvent(e, precise, probe)
		if err == nil && b.src < 0 {
			p.mu.Lock()
			b.src, err = p.hostSourceFor(b.host)
			p.mu.Unlock()
		}
		slot := -1
		if err == nil {
			if next > maxSpecEvents {
				err = &pmu.NotSupportedError{Event: e.String(),
					Reason: fmt.Sprintf("the VM counts at most %d events per thread", maxSpecEvents)}
			} else {
				slot, s.timeSlot = next, 0
				next++
			}
		}
		s.events = append(s.events, e)
		s.binds = append(s.binds, b)
		s.errs = append(s.errs, err)
		s.slots = append(s.slots, slot)
	}
	s.nodes = make([]*ctrNode, len(s.events))
	return s
}
