package hypervisor

import (
	"runtime"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// pcpuSlot is one PCPU: at most one VCPU runs guest code on it at a
// time. scheduler.mu protects it.
type pcpuSlot struct {
	owner *vcpu
	since time.Time
}

// acquirePCPU waits for a free slot in FIFO order, preferring the slot v
// held last, and takes it. It calls Migrate when v lands on another slot
// than before, then VCPUIn. Called by v's goroutine only, without
// scheduler.mu.
func (v *vcpu) acquirePCPU() {
	s := v.vm.sched
	s.mu.Lock()
	s.slotWait = append(s.slotWait, v)
	slot := -1
	for {
		if s.slotWait[0] == v {
			slot = s.freeSlot(v.lastPCPU)
			if slot >= 0 || s.stopping {
				break
			}
		}
		s.mu.Unlock()
		v.parker.park()
		s.mu.Lock()
	}
	s.slotWait = s.slotWait[1:]
	var next *vcpu
	if len(s.slotWait) > 0 {
		// The next waiter may find another free slot.
		next = s.slotWait[0]
	}
	if slot >= 0 {
		s.slots[slot] = pcpuSlot{owner: v, since: time.Now()}
		v.pcpu = slot
	}
	from := v.lastPCPU
	s.mu.Unlock()
	if next != nil {
		next.parker.unpark()
	}
	if slot < 0 {
		// Stopping with every slot taken cannot happen (stopping means
		// no thread is left, so no VCPU holds a slot), but never spin.
		return
	}
	if from >= 0 && from != slot {
		v.vm.hooks.Migrate(v.id, from, slot)
	}
	if v.vm.cfg.PinPCPUs {
		v.pin(slot)
	}
	v.vm.hooks.VCPUIn(v.id, slot)
}

// freeSlot returns a free slot, prefer if it is free, or -1. Called with
// scheduler.mu held.
func (s *scheduler) freeSlot(prefer int) int {
	if prefer >= 0 && prefer < len(s.slots) && s.slots[prefer].owner == nil {
		return prefer
	}
	for i := range s.slots {
		if s.slots[i].owner == nil {
			return i
		}
	}
	return -1
}

// releasePCPU gives v's slot up after calling VCPUOut. Called by v's
// goroutine only, without scheduler.mu.
func (v *vcpu) releasePCPU() {
	s := v.vm.sched
	v.vm.hooks.VCPUOut(v.id, v.pcpu)
	s.mu.Lock()
	s.slots[v.pcpu] = pcpuSlot{}
	v.lastPCPU, v.pcpu = v.pcpu, -1
	var next *vcpu
	if len(s.slotWait) > 0 {
		next = s.slotWait[0]
	}
	s.mu.Unlock()
	if next != nil {
		next.parker.unpark()
	}
}

// yieldPCPU gives the slot up and queues for one again: the PCPU-level
// preemption. The thread on v stays on v.
func (v *vcpu) yieldPCPU() {
	v.releasePCPU()
	v.acquirePCPU()
}

// pin binds v's OS thread to the host CPU of slot.
func (v *vcpu) pin(slot int) {
	var set unix.CPUSet
	set.Set(slot % runtime.NumCPU())
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		v.vm.log.Warn("cannot pin VCPU thread", "vcpu", v.id, "pcpu", slot, "err", err)
	}
}
