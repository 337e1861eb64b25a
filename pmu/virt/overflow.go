package virt

import "fmt"

// Overflow of a sampling counter: the virtual PMI.
//
// A logical counter with a sampling period overflows when its value
// reaches its next threshold; the thresholds are period events apart,
// counted from when the period was set. Overflow state is kept at the
// thread level of the algebra, next to Sum_thread and Start_thread,
// because an overflow belongs to the thread whose count crossed the
// threshold: the VMM checks for overflows when it has control (at an
// exit, after a tally), records them as pending in that thread's state,
// and delivers them (a sample, a signal) when it can, which may be after
// the thread was switched off its VCPU and another thread runs there.
// This is the pending_interrupt flag of perfctr-xen, kept per counter and
// as a count, so that no overflow is lost when several happen before
// one delivery.
//
// The thread must not be in guest mode while the VMM checks (the VMM
// counts in exits), or the check must pass the PhysFunc of its PCPU, as
// for Value.

// overflow is the sampling state of one counter slot.
type overflow struct {
	// period is the number of events between overflows; 0 when the
	// counter does not sample.
	period uint64
	// next is the logical value of the next overflow.
	next uint64
	// pending counts overflows that happened and were not taken yet.
	pending uint64
}

// MaxPeriod is the largest sampling period, as perf's (a period at or
// above 2^63 is EINVAL there): thresholds then never wrap.
const MaxPeriod = 1<<63 - 1

// SetPeriod makes counter i overflow every period events from its current
// value on (the first overflow when it has counted period more events);
// period 0 stops it sampling. Thresholds the counter crossed under the
// old period become pending overflows first; pending overflows are kept.
func (t *Thread) SetPeriod(i int, period uint64, phys PhysFunc) error {
	if period > MaxPeriod {
		return fmt.Errorf("virt: counter slot %d: period %d above the maximum of %d", i, period, uint64(MaxPeriod))
	}
	v, err := t.Value(i, phys)
	if err != nil {
		return err
	}
	// Thresholds crossed under the old period are overflows all the
	// same.
	t.CheckOverflow(i, phys)
	o := &t.ovf[i]
	o.period = period
	o.next = v + period
	return nil
}

// Period returns counter i's sampling period, 0 when it does not sample.
func (t *Thread) Period(i int) uint64 {
	if i < 0 || i >= MaxCounters {
		return 0
	}
	return t.ovf[i].period
}

// Retune changes the period of counter i for the interval in progress,
// as frequency mode does after an overflow: the next threshold becomes
// the last one plus period. If the counter is already past it, the next
// check reports the overflow.
func (t *Thread) Retune(i int, period uint64) error {
	if i < 0 || i >= MaxCounters {
		return fmt.Errorf("virt: counter slot %d out of range [0,%d)", i, MaxCounters)
	}
	o := &t.ovf[i]
	if o.period == 0 || period == 0 || period > MaxPeriod {
		return fmt.Errorf("virt: counter slot %d: retune from period %d to %d", i, o.period, period)
	}
	o.next = o.next - o.period + period
	o.period = period
	return nil
}

// Remaining returns how many events counter i has left until its next
// overflow: 0 when it is due (or past due), and 0, false when the counter
// does not sample or is disabled (it does not move).
func (t *Thread) Remaining(i int, phys PhysFunc) (uint64, bool) {
	if i < 0 || i >= MaxCounters || t.ovf[i].period == 0 || t.page.Counters[i].Flags&CounterEnabled == 0 {
		return 0, false
	}
	v, _ := t.Value(i, phys)
	o := &t.ovf[i]
	if v >= o.next {
		return 0, true
	}
	return o.next - v, true
}

// CheckOverflow compares counter i with its next threshold. When the
// counter reached it, the thresholds it crossed are recorded as pending
// overflows of this thread, the next threshold moves past the value, and
// their number is returned. A counter that does not sample never
// overflows.
func (t *Thread) CheckOverflow(i int, phys PhysFunc) uint64 {
	if i < 0 || i >= MaxCounters || t.ovf[i].period == 0 {
		return 0
	}
	o := &t.ovf[i]
	v, _ := t.Value(i, phys)
	if v < o.next {
		return 0
	}
	k := (v-o.next)/o.period + 1
	o.next += k * o.period
	o.pending += k
	return k
}

// Pending returns the overflows of counter i not taken yet.
func (t *Thread) Pending(i int) uint64 {
	if i < 0 || i >= MaxCounters {
		return 0
	}
	return t.ovf[i].pending
}

// TakePending returns the overflows of counter i not taken yet and clears
// them: the caller delivers them.
func (t *Thread) TakePending(i int) uint64 {
	if i < 0 || i >= MaxCounters {
		return 0
	}
	k := t.ovf[i].pending
	t.ovf[i].pending = 0
	return k
}

// rebaseOverflow restarts counter i's thresholds from value 0, after a
// reset: pending overflows happened and are kept.
func (t *Thread) rebaseOverflow(i int) {
	o := &t.ovf[i]
	if o.period != 0 {
		o.next = o.period
	}
}

// clearOverflow forgets counter i's sampling state (open, close).
func (t *Thread) clearOverflow(i int) { t.ovf[i] = overflow{} }
