package virt

import (
	"fmt"
	"sync/atomic"
)

// PhysFunc reads the physical value of a source on the PCPU the VCPU is on,
// in the units the guest reads it in (guest TSC ticks for SourceTSC, the
// raw counter for SourceRDPMC). It is not called for SourceVMM sources.
type PhysFunc func(src int, s *SourceSlot) uint64

// VCPU is the VMM's handle on one VCPU's state page: the VCPU level of the
// two-level algebra (Sum_vcpu and Start_vcpu of the paper, per source).
//
// A VCPU is owned by the goroutine that runs the VCPU; its methods must not
// be called concurrently. Readers on other goroutines use [Read] on the
// page, which is safe at any time.
type VCPU struct {
	page    *VCPUPage
	inGuest bool
	pcpu    uint32
}

// NewVCPU initializes page as VCPU id's state page and returns its handle.
// The page starts out of guest mode with no sources.
func NewVCPU(page *VCPUPage, id uint32) *VCPU {
	*page = VCPUPage{}
	v := &VCPU{page: page}
	v.begin()
	page.Version = ABIVersion
	page.ID = id
	page.PCPU = NoVCPU
	v.end()
	return v
}

// Page returns the VCPU's state page.
func (v *VCPU) Page() *VCPUPage { return v.page }

// InGuest reports whether the VCPU is in guest mode.
func (v *VCPU) InGuest() bool { return v.inGuest }

// begin and end bracket a write with the page's sequence count.
func (v *VCPU) begin() { atomic.AddUint32(&v.page.Seq, 1) }
func (v *VCPU) end()   { atomic.AddUint32(&v.page.Seq, 1) }

// SetTSCScale records the tick-to-nanosecond conversion readers use:
// ns = (ticks*mult)>>shift.
func (v *VCPU) SetTSCScale(mult, shift uint32) {
	v.begin()
	atomic.StoreUint32(&v.page.TSCMult, mult)
	atomic.StoreUint32(&v.page.TSCShift, shift)
	v.end()
}

// SetSource configures source slot src. It may only be called while the
// VCPU is out of guest mode, and resets the source's sum: configure
// sources before threads open counters on them.
func (v *VCPU) SetSource(src int, kind SourceKind, width, index uint32) error {
	if src < 0 || src >= MaxSources {
		return fmt.Errorf("virt: source %d out of range [0,%d)", src, MaxSources)
	}
	if v.inGuest {
		return fmt.Errorf("virt: source %d configured while VCPU %d is in guest mode", src, v.page.ID)
	}
	s := &v.page.Sources[src]
	v.begin()
	atomic.StoreUint32(&s.Kind, uint32(kind))
	atomic.StoreUint32(&s.Width, width)
	atomic.StoreUint32(&s.Index, index)
	atomic.StoreUint64(&s.Sum, 0)
	atomic.StoreUint64(&s.Start, 0)
	if n := uint32(src + 1); n > v.page.NSources {
		atomic.StoreUint32(&v.page.NSources, n)
	}
	v.end()
	return nil
}

// Enter records that the VCPU enters guest mode on PCPU slot pcpu:
// Start_vcpu = Phys for every source with a physical part. Call it as
// close to the real entry as possible (after calibrating entry cost, the
// phys values should be those at the first guest instruction).
func (v *VCPU) Enter(pcpu uint32, phys PhysFunc) {
	p := v.page
	v.begin()
	for i := range p.NSources {
		s := &p.Sources[i]
		switch SourceKind(s.Kind) {
		case SourceTSC, SourceRDPMC:
			atomic.StoreUint64(&s.Start, phys(int(i), s))
		}
	}
	atomic.StoreUint32(&p.PCPU, pcpu)
	atomic.StoreUint32(&p.Flags, p.Flags|VCPUInGuest)
	atomic.AddUint64(&p.Gen, 1)
	v.pcpu = pcpu
	v.inGuest = true
	v.end()
}

// Exit records that the VCPU left guest mode:
// Sum_vcpu += Phys - Start_vcpu (modulo the source width).
func (v *VCPU) Exit(phys PhysFunc) {
	p := v.page
	v.begin()
	for i := range p.NSources {
		s := &p.Sources[i]
		switch SourceKind(s.Kind) {
		case SourceTSC, SourceRDPMC:
			d := mask(phys(int(i), s)-s.Start, s.Width)
			atomic.StoreUint64(&s.Sum, s.Sum+d)
		}
	}
	atomic.StoreUint32(&p.Flags, p.Flags&^VCPUInGuest)
	v.inGuest = false
	v.end()
}

// Add adds n to a VMM-kept or host-folded source. It must be called while
// the VCPU is out of guest mode (the VMM counts in exits).
func (v *VCPU) Add(src int, n uint64) {
	s := &v.page.Sources[src]
	v.begin()
	atomic.StoreUint64(&s.Sum, s.Sum+n)
	v.end()
}

// Value returns Phys*(src): what the source counted for this VCPU so far.
func (v *VCPU) Value(src int, phys PhysFunc) uint64 {
	s := &v.page.Sources[src]
	val := s.Sum
	if v.inGuest {
		switch SourceKind(s.Kind) {
		case SourceTSC, SourceRDPMC:
			val += mask(phys(src, s)-s.Start, s.Width)
		}
	}
	return val
}
