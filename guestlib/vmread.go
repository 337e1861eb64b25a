package guestlib

import (
	"sync/atomic"

	"github.com/vpmu/vpmu/pmu/virt"
)

// pageSet is where a thread's counters live in the guest: its state page
// and the base of the VCPU pages.
type pageSet struct {
	tp    *virt.ThreadPage
	vcpus *[virt.MaxVCPUs]virt.VCPUPage
}

// readSlots is guestlib's tuned copy of virt.Read: it reads the logical
// values of slots into vals with one rdtsc for all time-based sources, and
// returns the TSC scale of the VCPU page it used. It runs entirely in user
// mode; a thread or VCPU switch in the middle makes it retry. It is
// nosplit: the Go runtime cannot preempt it (see Set.Read).
//
//go:nosplit
func (ps pageSet) readSlots(slots []int32, vals []uint64) (mult, shift uint32, retries int, err error) {
	tp := ps.tp
	for ; retries < virt.MaxRetries; retries++ {
		ts := atomic.LoadUint32(&tp.Seq)
		if ts&1 != 0 {
			continue
		}
		vid := atomic.LoadUint32(&tp.VCPU)
		if vid >= virt.MaxVCPUs {
			// Not on a VCPU: only a host-side reader sees this. The
			// sums are the values.
			for k, i := range slots {
				vals[k] = atomic.LoadUint64(&tp.Counters[i&(virt.MaxCounters-1)].Sum)
			}
			if atomic.LoadUint32(&tp.Seq) != ts {
				continue
			}
			return 0, 0, retries, nil
		}
		vp := &ps.vcpus[vid]
		vs := atomic.LoadUint32(&vp.Seq)
		if vs&1 != 0 {
			continue
		}
		inGuest := atomic.LoadUint32(&vp.Flags)&virt.VCPUInGuest != 0
		tsc := rdtsc()
		for k, i := range slots {
			c := &tp.Counters[i&(virt.MaxCounters-1)]
			v := atomic.LoadUint64(&c.Sum)
			if atomic.LoadUint32(&c.Flags)&virt.CounterEnabled != 0 {
				s := &vp.Sources[atomic.LoadUint32(&c.Source)&(virt.MaxSources-1)]
				pstar := atomic.LoadUint64(&s.Sum)
				if inGuest {
					switch virt.SourceKind(atomic.LoadUint32(&s.Kind)) {
					case virt.SourceTSC:
						// A start ahead of the TSC (an entry faster
						// than calibrated) counts as nothing yet.
						if d := tsc - atomic.LoadUint64(&s.Start); int64(d) > 0 {
							pstar += d
						}
					case virt.SourceRDPMC:
						d := rdpmc(atomic.LoadUint32(&s.Index)) - atomic.LoadUint64(&s.Start)
						if w := atomic.LoadUint32(&s.Width); w > 0 && w < 64 {
							d &= 1<<w - 1
						}
						pstar += d
					}
				}
				v += pstar - atomic.LoadUint64(&c.Start)
			}
			vals[k] = v
		}
		mult, shift = atomic.LoadUint32(&vp.TSCMult), atomic.LoadUint32(&vp.TSCShift)
		if atomic.LoadUint32(&vp.Seq) != vs || atomic.LoadUint32(&tp.Seq) != ts {
			continue
		}
		return mult, shift, retries, nil
	}
	return 0, 0, retries, virt.ErrContended
}
