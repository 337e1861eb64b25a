package virt

import (
	"errors"
	"fmt"
	"math/bits"
)

// Errors returned by Read.
var (
	// ErrVersion means the page was written for another ABI version.
	ErrVersion = errors.New("virt: state page has an unknown ABI version")
	// ErrContended means the page changed under the reader MaxRetries
	// times in a row; a healthy VMM never causes it.
	ErrContended = errors.New("virt: state page kept changing during the read")
)

// MaxRetries bounds the read loop, so that a broken page cannot hang a
// reader.
const MaxRetries = 1 << 16

// Env is what the read algorithm needs from where it runs: atomic loads
// from the state pages, the physical counter instructions, and the
// translation of a VCPU page's guest address. Tests implement it to
// interleave switches between any two steps of the loop.
type Env interface {
	Load32(p *uint32) uint32
	Load64(p *uint64) uint64
	// Phys executes rdtsc (SourceTSC) or rdpmc(index) (SourceRDPMC).
	Phys(kind SourceKind, index uint32) uint64
	// VCPUPage returns VCPU page id, given the thread page's VCPUBase.
	VCPUPage(base uint64, id uint32) (*VCPUPage, error)
}

// Reading is one logical counter's value.
type Reading struct {
	Value   uint64
	Event   uint64
	Enabled bool
}

// Read reads the logical counters in slots of the thread whose page is tp
// into out (len(out) >= len(slots)), as one consistent snapshot: no
// thread or VCPU switch happened between the loads that produced it.
// It returns the number of retries it needed.
//
// This is the reference algorithm; guestlib runs a tuned copy of it from
// guest user mode. For each slot:
//
//	Logical = Sum_thread + (Phys* - Start_thread)
//	Phys*   = Sum_vcpu + ((Phys - Start_vcpu) mod 2^width)
//
// with the two sequence counts checked around the whole computation.
func Read(env Env, tp *ThreadPage, slots []int, out []Reading) (retries int, err error) {
	if len(out) < len(slots) {
		return 0, fmt.Errorf("virt: %d readings for %d slots", len(out), len(slots))
	}
	for _, i := range slots {
		if i < 0 || i >= MaxCounters {
			return 0, fmt.Errorf("virt: counter slot %d out of range [0,%d)", i, MaxCounters)
		}
	}
	for ; retries < MaxRetries; retries++ {
		ts := env.Load32(&tp.Seq)
		if ts&1 != 0 {
			continue
		}
		if env.Load32(&tp.Version) != ABIVersion {
			return retries, ErrVersion
		}
		vid := env.Load32(&tp.VCPU)
		var vp *VCPUPage
		var vs, inGuest uint32
		if vid != NoVCPU {
			vp, err = env.VCPUPage(env.Load64(&tp.VCPUBase), vid)
			if err != nil {
				return retries, err
			}
			vs = env.Load32(&vp.Seq)
			if vs&1 != 0 {
				continue
			}
			inGuest = env.Load32(&vp.Flags) & VCPUInGuest
		}
		for k, i := range slots {
			c := &tp.Counters[i]
			flags := env.Load32(&c.Flags)
			r := Reading{Value: env.Load64(&c.Sum), Event: env.Load64(&c.Event), Enabled: flags&CounterEnabled != 0}
			if r.Enabled && vp != nil {
				src := env.Load32(&c.Source)
				start := env.Load64(&c.Start)
				if src >= MaxSources {
					return retries, fmt.Errorf("virt: counter slot %d names source %d, out of range", i, src)
				}
				s := &vp.Sources[src]
				pstar := env.Load64(&s.Sum)
				if inGuest != 0 {
					switch kind := SourceKind(env.Load32(&s.Kind)); kind {
					case SourceTSC:
						// The VMM's start is the calibrated time of the
						// first guest instruction; just after an entry
						// that was faster than calibrated it can lie
						// ahead of the TSC. That counts as nothing yet.
						if d := env.Phys(kind, env.Load32(&s.Index)) - env.Load64(&s.Start); int64(d) > 0 {
							pstar += d
						}
					case SourceRDPMC:
						ph := env.Phys(kind, env.Load32(&s.Index))
						pstar += mask(ph-env.Load64(&s.Start), env.Load32(&s.Width))
					}
				}
				r.Value += pstar - start
			}
			out[k] = r
		}
		if vp != nil && env.Load32(&vp.Seq) != vs {
			continue
		}
		if env.Load32(&tp.Seq) != ts {
			continue
		}
		return retries, nil
	}
	return retries, ErrContended
}

// TicksToNanos converts TSC ticks with a VCPU page's scale,
// (ticks*mult)>>shift, with a 128-bit intermediate product so that no
// 64-bit tick count overflows.
func TicksToNanos(ticks uint64, mult, shift uint32) uint64 {
	hi, lo := bits.Mul64(ticks, uint64(mult))
	if shift == 0 {
		return lo
	}
	if shift >= 64 {
		return hi >> (shift - 64)
	}
	return hi<<(64-shift) | lo>>shift
}
