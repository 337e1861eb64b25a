package virt

import (
	"fmt"
	"sync/atomic"
)

// Thread is the VMM's handle on one guest thread's state page: the thread
// level of the algebra (Sum_thread and Start_thread, per logical counter).
//
// A Thread's methods are called by the goroutine of the VCPU the thread
// is on (switches, paravirtual calls), or with the thread off every VCPU;
// they must not be called concurrently.
type Thread struct {
	page *ThreadPage
	vcpu *VCPU // nil while not on a VCPU
	// ovf is the sampling state of each counter slot (overflow.go).
	ovf [MaxCounters]overflow
}

// NewThread initializes page as the state page of guest thread tid. self is
// the page's guest address and vcpuBase the guest address of VCPU page 0.
func NewThread(page *ThreadPage, self uint64, tid uint32, vcpuBase uint64) *Thread {
	*page = ThreadPage{}
	t := &Thread{page: page}
	t.begin()
	page.Version = ABIVersion
	page.Self = self
	page.TID = tid
	page.VCPU = NoVCPU
	page.VCPUBase = vcpuBase
	t.end()
	return t
}

// Page returns the thread's state page.
func (t *Thread) Page() *ThreadPage { return t.page }

// VCPU returns the VCPU the thread is on, or nil.
func (t *Thread) VCPU() *VCPU { return t.vcpu }

func (t *Thread) begin() { atomic.AddUint32(&t.page.Seq, 1) }
func (t *Thread) end()   { atomic.AddUint32(&t.page.Seq, 1) }

func (t *Thread) slot(i int) (*CounterSlot, error) {
	if i < 0 || i >= MaxCounters {
		return nil, fmt.Errorf("virt: counter slot %d out of range [0,%d)", i, MaxCounters)
	}
	return &t.page.Counters[i], nil
}

// phys returns Phys*(src) of the thread's VCPU.
func (t *Thread) phys(src uint32, phys PhysFunc) uint64 {
	return t.vcpu.Value(int(src), phys)
}

// running reports whether counter c accrues now.
func (t *Thread) running(c *CounterSlot) bool {
	return t.vcpu != nil && c.Flags&CounterEnabled != 0
}

// SwitchIn puts the thread on VCPU v: Start_thread = Phys* for each enabled
// counter (paper eq. 4: the resume cost before this point is excluded).
func (t *Thread) SwitchIn(v *VCPU, phys PhysFunc) {
	p := t.page
	t.begin()
	t.vcpu = v
	for i := range p.NCounters {
		c := &p.Counters[i]
		if c.Flags&CounterEnabled != 0 {
			atomic.StoreUint64(&c.Start, t.phys(c.Source, phys))
		}
	}
	atomic.StoreUint32(&p.VCPU, v.page.ID)
	atomic.AddUint64(&p.Switches, 1)
	t.end()
}

// SwitchOut takes the thread off its VCPU: Sum_thread += Phys* -
// Start_thread for each enabled counter.
func (t *Thread) SwitchOut(phys PhysFunc) {
	if t.vcpu == nil {
		return
	}
	p := t.page
	t.begin()
	for i := range p.NCounters {
		c := &p.Counters[i]
		if c.Flags&CounterEnabled != 0 {
			atomic.StoreUint64(&c.Sum, c.Sum+(t.phys(c.Source, phys)-c.Start))
		}
	}
	atomic.StoreUint32(&p.VCPU, NoVCPU)
	t.vcpu = nil
	t.end()
}

// Open configures counter slot i to count source src, identified to
// readers by event, starting at zero, enabled or not.
func (t *Thread) Open(i int, src int, event uint64, enabled bool, phys PhysFunc) error {
	c, err := t.slot(i)
	if err != nil {
		return err
	}
	if src < 0 || src >= MaxSources {
		return fmt.Errorf("virt: source %d out of range [0,%d)", src, MaxSources)
	}
	t.clearOverflow(i)
	t.begin()
	atomic.StoreUint32(&c.Source, uint32(src))
	atomic.StoreUint64(&c.Event, event)
	atomic.StoreUint64(&c.Sum, 0)
	var flags uint32
	if enabled {
		flags = CounterEnabled
		if t.vcpu != nil {
			atomic.StoreUint64(&c.Start, t.phys(uint32(src), phys))
		}
	}
	atomic.StoreUint32(&c.Flags, flags)
	if n := uint32(i + 1); n > t.page.NCounters {
		atomic.StoreUint32(&t.page.NCounters, n)
	}
	t.end()
	return nil
}

// Close frees counter slot i.
func (t *Thread) Close(i int) error {
	c, err := t.slot(i)
	if err != nil {
		return err
	}
	t.clearOverflow(i)
	t.begin()
	atomic.StoreUint32(&c.Flags, 0)
	atomic.StoreUint32(&c.Source, 0)
	atomic.StoreUint64(&c.Event, 0)
	atomic.StoreUint64(&c.Sum, 0)
	atomic.StoreUint64(&c.Start, 0)
	n := t.page.NCounters
	for n > 0 && t.page.Counters[n-1] == (CounterSlot{}) {
		n--
	}
	atomic.StoreUint32(&t.page.NCounters, n)
	t.end()
	return nil
}

// Enable starts counter i counting; enabling an enabled counter does
// nothing.
func (t *Thread) Enable(i int, phys PhysFunc) error {
	c, err := t.slot(i)
	if err != nil || c.Flags&CounterEnabled != 0 {
		return err
	}
	t.begin()
	if t.vcpu != nil {
		atomic.StoreUint64(&c.Start, t.phys(c.Source, phys))
	}
	atomic.StoreUint32(&c.Flags, c.Flags|CounterEnabled)
	t.end()
	return nil
}

// Disable stops counter i, folding what it counted into its sum.
func (t *Thread) Disable(i int, phys PhysFunc) error {
	c, err := t.slot(i)
	if err != nil || c.Flags&CounterEnabled == 0 {
		return err
	}
	t.begin()
	if t.vcpu != nil {
		atomic.StoreUint64(&c.Sum, c.Sum+(t.phys(c.Source, phys)-c.Start))
	}
	atomic.StoreUint32(&c.Flags, c.Flags&^CounterEnabled)
	t.end()
	return nil
}

// Reset sets counter i back to zero without changing whether it counts.
func (t *Thread) Reset(i int, phys PhysFunc) error {
	c, err := t.slot(i)
	if err != nil {
		return err
	}
	// Thresholds crossed before the reset are overflows all the same.
	t.CheckOverflow(i, phys)
	t.begin()
	atomic.StoreUint64(&c.Sum, 0)
	if t.running(c) {
		atomic.StoreUint64(&c.Start, t.phys(c.Source, phys))
	}
	t.end()
	t.rebaseOverflow(i)
	return nil
}

// Value returns the logical value of counter i as the VMM sees it:
// Sum_thread + (Phys* - Start_thread) while the thread runs with the
// counter enabled, Sum_thread otherwise (paper eqs. 2-3).
func (t *Thread) Value(i int, phys PhysFunc) (uint64, error) {
	c, err := t.slot(i)
	if err != nil {
		return 0, err
	}
	if !t.running(c) {
		return c.Sum, nil
	}
	return c.Sum + (t.phys(c.Source, phys) - c.Start), nil
}
