package guestlib

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// pvOpenPrecise is the vpmu hypervisor's PVOpen flag for precise mode
// (docs/vpmu-abi.md).
const pvOpenPrecise = 1 << 2

// InVM reports whether the program runs inside the vpmu hypervisor. It
// probes the paravirtual call once (Linux answers ENOSYS); CPUID cannot
// be relied on, because PVM hosts do not trap it.
func InVM() bool { return inVM() }

var inVM = sync.OnceValue(func() bool {
	r, e := unix.PVCall(virt.PVSyscall, virt.PVProbe, 0, 0, 0, 0, 0)
	return e == 0 && r == virt.PVMagic<<16|virt.ABIVersion
})

// vmSet is a Set inside the vpmu hypervisor: the counter slots the VMM
// gave, and the pages to read them from.
type vmSet struct {
	// slots are the counter slots: per group a time slot, then one per
	// event. vals receives their values. Both stay on the heap: the
	// paravirtual call and the direct read use them.
	slots []int32
	vals  []uint64
	// event[i] and group[i] are the positions in slots of event i's
	// counter and of its group's time slot; ns[i] says event i is shown
	// in nanoseconds.
	event, group []int
	ns           []bool
	events       []pmu.Event

	ps pageSet
	// self is the thread page's guest address; direct says the thread's
	// GS base points at it, so direct reads may check it.
	self   uint64
	direct bool
	// out receives paravirtual results.
	out []byte
}

// openVM opens spec through the paravirtual call.
func openVM(spec string, parsed pmu.Spec, o options) (*vmSet, error) {
	v := &vmSet{events: parsed.Events()}
	n := 0
	for _, g := range parsed.Groups {
		time := n
		n++
		for _, e := range g.Events {
			v.event = append(v.event, n)
			v.group = append(v.group, time)
			v.ns = append(v.ns, nanosEvent(e))
			n++
		}
	}
	v.slots = make([]int32, n)
	v.vals = make([]uint64, n)
	v.out = make([]byte, max(8*n, 4*virt.MaxCounters))
	var flags uintptr
	if o.disabled {
		flags |= virt.PVOpenDisabled
	}
	if o.inherit {
		flags |= virt.PVOpenInherit
	}
	if o.precise {
		flags |= pvOpenPrecise
	}
	text := []byte(spec)
	got, err := pvOpen(text, flags, v.out[:4*virt.MaxCounters])
	if err != nil {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("guestlib: the vpmu hypervisor opened %d counter slots for %q, want %d", got, spec, n)
	}
	for i := range v.slots {
		v.slots[i] = int32(binary.LittleEndian.Uint32(v.out[4*i:]))
	}
	v.self, err = pvInfo()
	if err != nil {
		v.closeSlots()
		return nil, err
	}
	v.ps = pagesAt(v.self)
	if gs, err := unix.ArchGetGS(); err == nil && gs == v.self {
		v.direct = gsSelf() == v.self
	}
	return v, nil
}

// nanosEvent reports whether an event counts time in nanoseconds
// (task-clock and cpu-clock; the VM counts TSC ticks for them).
func nanosEvent(e pmu.Event) bool {
	const swCPUClock, swTaskClock = 0, 1 // PERF_COUNT_SW_CPU_CLOCK, PERF_COUNT_SW_TASK_CLOCK
	return e.Kind == pmu.KindSoftware && (e.Config == swCPUClock || e.Config == swTaskClock)
}

// read is the direct read. It is nosplit up to the snapshot (see
// Set.Read).
//
//go:nosplit
func (v *vmSet) read(dst []Reading) error {
	if !v.direct {
		return v.readPV(dst, false)
	}
	if gsSelf() != v.self {
		return ErrWrongThread
	}
	mult, shift, _, err := v.ps.readSlots(v.slots, v.vals)
	if err != nil {
		return err
	}
	v.fill(dst, mult, shift)
	return nil
}

// readPV reads through the paravirtual call.
func (v *vmSet) readPV(dst []Reading, inherited bool) error {
	var flags uintptr
	if inherited {
		flags = virt.PVReadInherited
	}
	if err := pvRead(v.slots, v.out[:8*len(v.slots)], flags); err != nil {
		return err
	}
	for i := range v.vals {
		v.vals[i] = binary.LittleEndian.Uint64(v.out[8*i:])
	}
	vp := &v.ps.vcpus[0]
	v.fill(dst, vp.TSCMult, vp.TSCShift)
	return nil
}

// fill converts the slot values into readings: TSC ticks to
// nanoseconds for the time slots and the clock events.
func (v *vmSet) fill(dst []Reading, mult, shift uint32) {
	g, t := -1, time.Duration(0)
	for i, e := range v.event {
		if v.group[i] != g {
			g = v.group[i]
			t = time.Duration(virt.TicksToNanos(v.vals[g], mult, shift))
		}
		val := v.vals[e]
		if v.ns[i] {
			val = virt.TicksToNanos(val, mult, shift)
		}
		dst[i] = Reading{Value: val, Enabled: t, Running: t}
	}
}

func (v *vmSet) control(op ctlOp) error {
	pv := map[ctlOp]uintptr{ctlEnable: virt.PVEnable, ctlDisable: virt.PVDisable, ctlReset: virt.PVReset, ctlClose: virt.PVClose}[op]
	return pvSlots(pv, v.slots)
}

func (v *vmSet) closeSlots() { _ = pvSlots(virt.PVClose, v.slots) }

// pvError turns a failed paravirtual call into an error with the VMM's
// explanation: a *pmu.NotSupportedError for EOPNOTSUPP.
func pvError(op string, e unix.Errno) error {
	msg := lastError()
	if e == unix.EOPNOTSUPP {
		if ns := parseNotSupported(msg); ns != nil {
			return ns
		}
		return &pmu.NotSupportedError{Reason: msg, Err: e}
	}
	if msg == "" {
		return fmt.Errorf("guestlib: vpmu %s: %w", op, e)
	}
	return fmt.Errorf("guestlib: vpmu %s: %s: %w", op, msg, e)
}

// parseNotSupported rebuilds a *pmu.NotSupportedError from its text,
// `event "NAME" not supported: REASON`.
func parseNotSupported(msg string) *pmu.NotSupportedError {
	rest, ok := strings.CutPrefix(msg, "event ")
	if !ok {
		return nil
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return nil
	}
	name, _ := strconv.Unquote(q)
	reason, ok := strings.CutPrefix(rest[len(q):], " not supported")
	if !ok {
		return nil
	}
	return &pmu.NotSupportedError{Event: name, Reason: strings.TrimPrefix(reason, ": ")}
}

// lastError returns the text of the thread's last paravirtual error.
func lastError() string {
	buf := make([]byte, 1024)
	n, err := pvLastError(buf)
	if err != nil || n < 0 {
		return ""
	}
	return string(buf[:min(n, len(buf))])
}
