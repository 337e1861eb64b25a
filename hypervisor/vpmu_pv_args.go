package hypervisor

import (
	"encoding/binary"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu/virt"
)

// Limits on the paravirtual call's arguments.
const (
	// pvMaxSpec is the longest event spec PVOpen takes.
	pvMaxSpec = 4096
	// pvMaxSlots is the most slots one call may name (a slot may be
	// named more than once, as in a read of the same counter twice).
	pvMaxSlots = 4 * virt.MaxCounters
	// pvMaxLastError caps the capacity PVLastError copies to.
	pvMaxLastError = 1 << 16
)

// PVOpenPrecise is a PVOpen flag of this VMM (docs/vpmu-abi.md): count
// the spec's instructions and branches exactly by single-stepping the
// calling thread while they are enabled.
const pvOpenPrecise = 1 << 2

// pvOpenFlags are the PVOpen flags the VMM knows.
const pvOpenFlags = virt.PVOpenDisabled | virt.PVOpenInherit | pvOpenPrecise | virt.PVOpenSignal

// pvMemory is the guest memory a paravirtual call reads (MM implements
// it; the fuzz target fakes it).
type pvMemory interface {
	CopyIn(addr uint64, dst []byte) error
}

// pvRequest is a decoded paravirtual call.
type pvRequest struct {
	op uint64
	// spec is PVOpen's event spec.
	spec string
	// flags are PVOpen's or PVRead's flags.
	flags uint64
	// slots are the counter slots of PVRead, PVEnable, PVDisable,
	// PVReset and PVClose.
	slots []int
	// out is where results go: PVOpen's slot array, PVRead's values,
	// PVLastError's buffer; n is its capacity in elements.
	out uint64
	n   int
	// period and signo are PVSetPeriod's (vpmu_sample_pv.go).
	period uint64
	signo  int
}

// pvError is a failed paravirtual call: the errno for RAX and the text
// PVLastError returns.
type pvError struct {
	errno unix.Errno
	msg   string
}

func (e *pvError) Error() string { return e.msg }
func (e *pvError) Unwrap() error { return e.errno }

func pvErrorf(errno unix.Errno, format string, args ...any) *pvError {
	return &pvError{errno: errno, msg: fmt.Sprintf(format, args...)}
}

// decodePV decodes the registers of a paravirtual call (RDI op, then
// RSI, RDX, R10, R8, R9 as a[1]..a[5] of SyscallArgs, whose a[0] is RDI)
// and the guest memory they point at. It checks everything but slot
// ownership, which needs the thread. It never panics.
func decodePV(a SyscallArgs, mem pvMemory) (pvRequest, error) {
	r := pvRequest{op: a[0]}
	switch r.op {
	case virt.PVProbe, virt.PVInfo:
	case virt.PVOpen:
		if a[2] == 0 || a[2] > pvMaxSpec {
			return r, pvErrorf(unix.EINVAL, "open: spec length %d: want 1 to %d bytes", a[2], pvMaxSpec)
		}
		b := make([]byte, a[2])
		if err := mem.CopyIn(a[1], b); err != nil {
			return r, pvErrorf(unix.EFAULT, "open: spec at %#x (%d bytes) is not readable", a[1], a[2])
		}
		r.spec = string(b)
		r.flags = a[3]
		if r.flags&^pvOpenFlags != 0 {
			return r, pvErrorf(unix.EINVAL, "open: unknown flags %#x", r.flags&^pvOpenFlags)
		}
		if a[5] > virt.MaxCounters*2 {
			a[5] = virt.MaxCounters * 2 // more than any open can fill
		}
		r.out, r.n = a[4], int(a[5])
	case virt.PVRead, virt.PVEnable, virt.PVDisable, virt.PVReset, virt.PVClose:
		slots, err := decodeSlots(a[1], a[2], mem)
		if err != nil {
			return r, err
		}
		r.slots = slots
		if r.op == virt.PVRead {
			r.out, r.n = a[3], len(slots)
			r.flags = a[4]
			if r.flags&^virt.PVReadInherited != 0 {
				return r, pvErrorf(unix.EINVAL, "read: unknown flags %#x", r.flags&^virt.PVReadInherited)
			}
		}
	case virt.PVLastError:
		r.out, r.n = a[1], int(min(a[2], pvMaxLastError))
	case virt.PVSetPeriod:
		return decodeSetPeriod(r, a)
	default:
		return r, pvErrorf(unix.EINVAL, "unknown operation %d", r.op)
	}
	return r, nil
}

// decodeSlots reads count int32 slot numbers at addr and checks their
// range.
func decodeSlots(addr, count uint64, mem pvMemory) ([]int, error) {
	if count == 0 || count > pvMaxSlots {
		return nil, pvErrorf(unix.EINVAL, "%d slots: want 1 to %d", count, pvMaxSlots)
	}
	b := make([]byte, 4*count)
	if err := mem.CopyIn(addr, b); err != nil {
		return nil, pvErrorf(unix.EFAULT, "slot array at %#x (%d slots) is not readable", addr, count)
	}
	slots := make([]int, count)
	for i := range slots {
		s := int32(binary.LittleEndian.Uint32(b[4*i:]))
		if s < 0 || s >= virt.MaxCounters {
			return nil, pvErrorf(unix.EBADF, "slot %d out of range [0,%d)", s, virt.MaxCounters)
		}
		slots[i] = int(s)
	}
	return slots, nil
}
