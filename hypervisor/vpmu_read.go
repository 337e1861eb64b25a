package hypervisor

import (
	"fmt"
	"sync/atomic"

	"github.com/vpmu/vpmu/pmu/virt"
)

// hostReadEnv runs virt.Read on the VMM side, for a thread other than
// the caller's own (inherited reads, reports during a run): the pages
// are loaded atomically and a VCPU in guest mode has its TSC read on the
// host, plus the guest's offset.
type hostReadEnv struct{ p *vpmu }

func (hostReadEnv) Load32(p *uint32) uint32 { return atomic.LoadUint32(p) }
func (hostReadEnv) Load64(p *uint64) uint64 { return atomic.LoadUint64(p) }

func (e hostReadEnv) Phys(kind virt.SourceKind, _ uint32) uint64 {
	if kind == virt.SourceTSC {
		return rdtsc() + e.p.off
	}
	return 0 // the VM configures no SourceRDPMC
}

func (e hostReadEnv) VCPUPage(base uint64, id uint32) (*virt.VCPUPage, error) {
	if base != vpmuVCPUGVA || int(id) >= len(e.p.vcpuPages) {
		return nil, fmt.Errorf("vpmu: thread page names VCPU page %d at %#x", id, base)
	}
	return e.p.vcpuPages[id], nil
}

// liveValue reads slot of another thread's counters without stopping it.
func (p *vpmu) liveValue(pt *vpmuThread, slot int) uint64 {
	var out [1]virt.Reading
	if _, err := virt.Read(hostReadEnv{p}, pt.vt.Page(), []int{slot}, out[:]); err != nil {
		p.vm.log.Error("vpmu: read another thread's counter", "tid", pt.tid, "slot", slot, "err", err)
	}
	return out[0].Value
}

// vcpuValue reads Phys* of a source of VCPU id without stopping it.
func (p *vpmu) vcpuValue(id, src int) uint64 {
	vp := p.vcpuPages[id]
	s := &vp.Sources[src]
	for {
		seq := atomic.LoadUint32(&vp.Seq)
		if seq&1 != 0 {
			continue
		}
		v := atomic.LoadUint64(&s.Sum)
		if atomic.LoadUint32(&vp.Flags)&virt.VCPUInGuest != 0 && atomic.LoadUint32(&s.Kind) == uint32(virt.SourceTSC) {
			if d := rdtsc() + p.off - atomic.LoadUint64(&s.Start); int64(d) > 0 {
				v += d
			}
		}
		if atomic.LoadUint32(&vp.Seq) == seq {
			return v
		}
	}
}
