package guestlib

import (
	"testing"

	"github.com/vpmu/vpmu/pmu"
)

// BenchmarkVMSetRead is the whole direct read of a Set of four events in
// one group (five slots with the time slot), unit conversion included,
// on pages in host memory: Set.Read minus the GS check.
func BenchmarkVMSetRead(b *testing.B) {
	p := newTestPages(b)
	p.thread.SwitchIn(p.v[0], physTSC)
	p.v[0].SetTSCScale(1654361499, 32)
	p.v[0].Enter(0, physTSC)
	spec := pmu.MustParseSpec("{task-clock,syscalls,vm-exits,context-switches}")
	v := &vmSet{events: spec.Events(), slots: []int32{0, 1, 2, 1, 3}, vals: make([]uint64, 5),
		event: []int{1, 2, 3, 4}, group: []int{0, 0, 0, 0}, ns: []bool{true, false, false, false}, ps: p.set()}
	s := &Set{events: v.events, vm: v}
	r := make([]Reading, 4)
	b.ReportAllocs()
	for b.Loop() {
		mult, shift, _, err := s.vm.ps.readSlots(v.slots, v.vals)
		if err != nil {
			b.Fatal(err)
		}
		v.fill(r, mult, shift)
	}
}
