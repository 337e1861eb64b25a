package hypervisor

import (
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu/virt"
)

// Sampling by the guest itself (docs/vpmu-abi.md): a counter opened with
// virt.PVOpenSignal gets a period with virt.PVSetPeriod, and every
// overflow sends the thread a signal, SIGPROF unless it asks for another,
// whose si_value says which slot overflowed and how many times. The
// thread's handler sees the interrupted context in its ucontext, as with
// setitimer(ITIMER_PROF) or a perf_event's F_SETSIG signal.

// decodeSetPeriod decodes PVSetPeriod: RSI slot, RDX period, R10 signal.
func decodeSetPeriod(r pvRequest, a SyscallArgs) (pvRequest, error) {
	slot := int64(a[1])
	if slot < 0 || slot >= virt.MaxCounters {
		return r, pvErrorf(unix.EBADF, "set period: slot %d out of range [0,%d)", slot, virt.MaxCounters)
	}
	r.slots = []int{int(slot)}
	r.period = a[2]
	sig := int64(a[3])
	if sig == 0 {
		sig = sigPROF
	}
	if sig < 1 || sig > numSignals || sig == sigKILL || sig == sigSTOP {
		return r, pvErrorf(unix.EINVAL, "set period: signal %d: want 1 to %d, not SIGKILL or SIGSTOP", sig, numSignals)
	}
	r.signo = int(sig)
	return r, nil
}

// pvSetPeriod gives a counter of the calling thread a sampling period
// with overflow signals, or stops it sampling (period 0).
func (p *vpmu) pvSetPeriod(t *Thread, r pvRequest) error {
	pt := t.pmu
	slot := r.slots[0]
	c := pt.ctr[slot]
	switch {
	case c == nil:
		return pvErrorf(unix.EBADF, "set period: slot %d is not open", slot)
	case c.vmm:
		return pvErrorf(unix.EBADF, "set period: slot %d is a counter of the VMM's own", slot)
	case !c.signal:
		return pvErrorf(unix.EINVAL, "set period: slot %d was not opened with the signal flag (%#x)", slot, virt.PVOpenSignal)
	case c.ev.Kind == 0:
		return pvErrorf(unix.EINVAL, "set period: slot %d is a group's time slot, which does not sample", slot)
	case c.b.src >= srcHostFirst:
		return pvErrorf(unix.EOPNOTSUPP, "set period: slot %d counts a host PMU event, whose overflows the VMM cannot see", slot)
	}
	if r.period == 0 {
		pt.samp.remove(slot)
		return pt.vt.SetPeriod(slot, 0, nil)
	}
	period, err := p.periodTicks(c.b, r.period)
	if err != nil {
		return pvErrorf(unix.EINVAL, "set period: %v", err)
	}
	if err := pt.vt.SetPeriod(slot, period, nil); err != nil {
		return err
	}
	s := &threadSampler{slot: slot, src: c.b.src, signo: r.signo, ns: c.b.ns}
	if c.b.ns {
		s.nsPeriod = r.period
	}
	pt.samp.add(s)
	return nil
}
