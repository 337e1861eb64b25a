package hypervisor

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// The paravirtual interface (docs/vpmu-abi.md): system call
// virt.PVSyscall, which Linux answers with ENOSYS. It acts on the
// calling thread's counters only.

// pvCall runs a paravirtual call of t. Failures return an errno and leave
// their text for PVLastError.
func (t *Thread) pvCall(a SyscallArgs) (uint64, error) {
	p, pt := t.proc.vm.pmu, t.pmu
	if p == nil || pt == nil || t.vcpu == nil || t.vcpu.pmu == nil {
		return 0, unix.ENOSYS
	}
	req, err := decodePV(a, t.MM())
	var ret uint64
	if err == nil {
		ret, err = p.pv(t.vcpu, t, req)
	}
	if err != nil {
		var pe *pvError
		if !errors.As(err, &pe) {
			pe = &pvError{errno: unix.EIO, msg: err.Error()}
		}
		pt.lastErr = pe.msg
		return 0, pe.errno
	}
	return ret, nil
}

// pvProbeValue is what PVProbe returns.
const pvProbeValue = virt.PVMagic<<16 | virt.ABIVersion

// pv dispatches a decoded call.
func (p *vpmu) pv(v *vcpu, t *Thread, r pvRequest) (uint64, error) {
	pt := t.pmu
	switch r.op {
	case virt.PVProbe:
		return pvProbeValue, nil
	case virt.PVInfo:
		return pt.gva, nil
	case virt.PVLastError:
		msg := []byte(pt.lastErr)
		if n := min(len(msg), r.n); n > 0 {
			if err := t.MM().CopyOut(r.out, msg[:n]); err != nil {
				return 0, pvErrorf(unix.EFAULT, "last error: buffer at %#x (%d bytes) is not writable", r.out, n)
			}
		}
		return uint64(len(msg)), nil
	case virt.PVOpen:
		return p.pvOpen(v, t, r)
	case virt.PVRead:
		return 0, p.pvRead(v, t, r)
	case virt.PVSetPeriod:
		return 0, p.pvSetPeriod(t, r)
	default:
		return 0, p.pvControl(v, t, r)
	}
}

// plannedCounter is one slot PVOpen will fill.
type plannedCounter struct {
	ev pmu.Event // zero for a group's time slot
	b  binding
}

// pvOpen parses the spec, binds every event, and opens one time slot per
// group plus one slot per event, all or nothing.
func (p *vpmu) pvOpen(v *vcpu, t *Thread, r pvRequest) (uint64, error) {
	pt := t.pmu
	spec, err := pmu.ParseSpec(r.spec, nil)
	if err != nil {
		return 0, pvErrorf(unix.EINVAL, "open: %v", err)
	}
	var probe pmuHostProber
	if p.host != nil {
		probe = p.host.probe
	}
	precise := r.flags&pvOpenPrecise != 0
	var plan []plannedCounter
	for _, g := range spec.Groups {
		plan = append(plan, plannedCounter{b: binding{src: srcTime}})
		for _, e := range g.Events {
			b, err := bindEvent(e, precise, probe)
			if err != nil {
				return 0, pvErrorf(unix.EOPNOTSUPP, "%v", err)
			}
			plan = append(plan, plannedCounter{ev: e, b: b})
		}
	}
	if len(plan) > r.n {
		return 0, pvErrorf(unix.EINVAL, "open: the slot array holds %d slots, the spec needs %d", r.n, len(plan))
	}
	slots := pt.freeSlots(len(plan))
	if slots == nil {
		return 0, pvErrorf(unix.ENOSPC, "open: the spec needs %d counter slots, the thread has %d free of %d",
			len(plan), len(pt.freeSlots(virt.MaxCounters)), virt.MaxCounters)
	}
	p.mu.Lock()
	for i := range plan {
		if plan[i].b.src < 0 {
			if plan[i].b.src, err = p.hostSourceFor(plan[i].b.host); err != nil {
				p.mu.Unlock()
				return 0, pvErrorf(unix.EOPNOTSUPP, "%v", err)
			}
		}
	}
	p.mu.Unlock()
	c := v.pmu
	// New host sources must exist on this VCPU before counters start on
	// them.
	c.syncHostIfAny()
	out := make([]byte, 4*len(slots))
	for i, s := range slots {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(s))
	}
	if err := t.MM().CopyOut(r.out, out); err != nil {
		return 0, pvErrorf(unix.EFAULT, "open: slot array at %#x is not writable", r.out)
	}
	enabled := r.flags&virt.PVOpenDisabled == 0
	inherit := r.flags&virt.PVOpenInherit != 0
	before := pt.precise
	p.mu.Lock()
	for i, pl := range plan {
		s := slots[i]
		pt.ctr[s] = &counter{node: &ctrNode{th: pt, slot: s}, b: pl.b, ev: pl.ev, inherit: inherit,
			signal: r.flags&virt.PVOpenSignal != 0}
		_ = pt.vt.Open(s, pl.b.src, eventCode(pl.ev), enabled, nil)
		if enabled && pl.b.precise {
			pt.precise++
		}
	}
	p.mu.Unlock()
	if pt.precise != before {
		v.steppingChanged(t)
	}
	return uint64(len(slots)), nil
}

// checkSlots verifies that every slot is open; write asks, in addition,
// that the guest opened it (the VMM's own counters are read-only to it).
func (pt *vpmuThread) checkSlots(slots []int, write bool) error {
	for _, s := range slots {
		c := pt.ctr[s]
		switch {
		case c == nil:
			return pvErrorf(unix.EBADF, "slot %d is not open", s)
		case write && c.vmm:
			return pvErrorf(unix.EBADF, "slot %d is a counter of the VMM's own (vpmu stat): the program may read it, not change it", s)
		}
	}
	return nil
}

// pvRead reads counters through the VMM: exact, also for host counters
// (folded first), and with PVReadInherited the sum over descendants.
func (p *vpmu) pvRead(v *vcpu, t *Thread, r pvRequest) error {
	pt := t.pmu
	if err := pt.checkSlots(r.slots, false); err != nil {
		return err
	}
	v.pmu.syncHostIfAny()
	out := make([]byte, 8*len(r.slots))
	inherited := r.flags&virt.PVReadInherited != 0
	if inherited {
		p.mu.Lock()
	}
	for i, s := range r.slots {
		var val uint64
		if inherited {
			val = pt.inheritedValue(s)
		} else {
			val = pt.ownValue(s)
		}
		binary.LittleEndian.PutUint64(out[8*i:], val)
	}
	if inherited {
		p.mu.Unlock()
	}
	if err := t.MM().CopyOut(r.out, out); err != nil {
		return pvErrorf(unix.EFAULT, "read: value array at %#x is not writable", r.out)
	}
	return nil
}

// pvControl enables, disables, resets or closes counters.
func (p *vpmu) pvControl(v *vcpu, t *Thread, r pvRequest) error {
	pt := t.pmu
	if err := pt.checkSlots(r.slots, true); err != nil {
		return err
	}
	before := pt.precise
	for _, s := range r.slots {
		c := pt.ctr[s]
		if c == nil {
			continue // closed earlier in this call
		}
		on := pt.vt.Page().Counters[s].Flags&virt.CounterEnabled != 0
		var err error
		switch r.op {
		case virt.PVEnable:
			err = pt.vt.Enable(s, nil)
			if !on && c.b.precise {
				pt.precise++
			}
		case virt.PVDisable:
			err = pt.vt.Disable(s, nil)
			if on && c.b.precise {
				pt.precise--
			}
		case virt.PVReset:
			err = pt.vt.Reset(s, nil)
		case virt.PVClose:
			err = pt.vt.Close(s)
			if on && c.b.precise {
				pt.precise--
			}
			p.mu.Lock()
			pt.ctr[s] = nil
			p.mu.Unlock()
			pt.samp.remove(s)
		}
		if err != nil {
			return fmt.Errorf("slot %d: %w", s, err)
		}
	}
	if pt.precise != before {
		v.steppingChanged(t)
	}
	return nil
}
