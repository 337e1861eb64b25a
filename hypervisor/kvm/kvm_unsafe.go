package kvm

import (
	"sync/atomic"
	"unsafe"

	"github.com/vpmu/vpmu/internal/unix"
)

// This file holds every pointer conversion of the package: ioctl arguments
// that point at mirrored kernel structs, and the view of the mmap'd
// kvm_run region as a *Run.

func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) error {
	_, err := unix.KVMIoctlPtr(fd, req, p)
	return err
}

func ptrRegs(r *Regs) unsafe.Pointer             { return unsafe.Pointer(r) }
func ptrSregs(s *Sregs) unsafe.Pointer           { return unsafe.Pointer(s) }
func ptrEvents(e *VCPUEvents) unsafe.Pointer     { return unsafe.Pointer(e) }
func ptrXCRs(x *XCRs) unsafe.Pointer             { return unsafe.Pointer(x) }
func ptrGuestDebug(d *GuestDebug) unsafe.Pointer { return unsafe.Pointer(d) }
func ptrBytes(b []byte) unsafe.Pointer           { return unsafe.Pointer(unsafe.SliceData(b)) }

// runFromMem views the start of the mmap'd vcpu region as a kvm_run.
func runFromMem(mem []byte) *Run {
	if len(mem) < int(unsafe.Sizeof(Run{})) {
		return nil
	}
	return (*Run)(unsafe.Pointer(unsafe.SliceData(mem)))
}

// RequestImmediateExit sets (or clears) kvm_run.immediate_exit. It may be
// called from any goroutine: it stores the first 32-bit word of kvm_run
// atomically, which holds request_interrupt_window (always 0 for vpmu),
// immediate_exit and padding the kernel never writes. Setting it before
// signalling the VCPU's thread closes the race with a thread that is about
// to enter KVM_RUN.
func (v *VCPU) RequestImmediateExit(on bool) {
	var w uint32
	if on {
		w = 1 << 8 // byte 1: immediate_exit
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(v.run)), w)
}

func setUserMemoryRegion(fd int, r *MemoryRegion) error {
	_, err := unix.KVMIoctlPtr(fd, unix.KVM_SET_USER_MEMORY_REGION, unsafe.Pointer(r))
	return err
}

func setIdentityMapAddr(fd int, gpa uint64) error {
	_, err := unix.KVMIoctlPtr(fd, unix.KVM_SET_IDENTITY_MAP_ADDR, unsafe.Pointer(&gpa))
	return err
}

func enableCapIoctl(fd int, ec *enableCap) error {
	_, err := unix.KVMIoctlPtr(fd, unix.KVM_ENABLE_CAP, unsafe.Pointer(ec))
	return err
}

// cpuidHeader mirrors struct kvm_cpuid2 without its flexible array.
type cpuidHeader struct {
	Nent uint32
	_    uint32
}

// cpuidBuffer allocates a kvm_cpuid2 with room for n entries, as 8-byte
// words so that it is aligned.
func cpuidBuffer(n int) []uint64 {
	size := int(unsafe.Sizeof(cpuidHeader{})) + n*int(unsafe.Sizeof(CPUIDEntry{}))
	return make([]uint64, (size+7)/8)
}

func cpuidEntries(buf []uint64, n int) []CPUIDEntry {
	p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(buf)), unsafe.Sizeof(cpuidHeader{}))
	return unsafe.Slice((*CPUIDEntry)(p), n)
}

func getCPUID(fd int, max int) ([]CPUIDEntry, error) {
	buf := cpuidBuffer(max)
	hdr := (*cpuidHeader)(unsafe.Pointer(unsafe.SliceData(buf)))
	hdr.Nent = uint32(max)
	if _, err := unix.KVMIoctlPtr(fd, unix.KVM_GET_SUPPORTED_CPUID, unsafe.Pointer(hdr)); err != nil {
		return nil, err
	}
	n := int(hdr.Nent)
	if n > max {
		n = max
	}
	return append([]CPUIDEntry(nil), cpuidEntries(buf, n)...), nil
}

func setCPUID(fd int, ents []CPUIDEntry) error {
	buf := cpuidBuffer(len(ents))
	hdr := (*cpuidHeader)(unsafe.Pointer(unsafe.SliceData(buf)))
	hdr.Nent = uint32(len(ents))
	copy(cpuidEntries(buf, len(ents)), ents)
	_, err := unix.KVMIoctlPtr(fd, unix.KVM_SET_CPUID2, unsafe.Pointer(hdr))
	return err
}

// msrsHeader mirrors struct kvm_msrs without its flexible array.
type msrsHeader struct {
	NMSRs uint32
	_     uint32
}

// msrsIoctl runs KVM_GET_MSRS or KVM_SET_MSRS over ents (read back into
// ents for GET) and returns how many MSRs KVM processed.
func msrsIoctl(fd int, req uintptr, ents []MSREntry) (int, error) {
	words := (int(unsafe.Sizeof(msrsHeader{})) + len(ents)*int(unsafe.Sizeof(MSREntry{}))) / 8
	buf := make([]uint64, words)
	hdr := (*msrsHeader)(unsafe.Pointer(unsafe.SliceData(buf)))
	hdr.NMSRs = uint32(len(ents))
	body := unsafe.Slice((*MSREntry)(unsafe.Add(unsafe.Pointer(hdr), unsafe.Sizeof(msrsHeader{}))), len(ents))
	copy(body, ents)
	n, err := unix.KVMIoctlPtr(fd, req, unsafe.Pointer(hdr))
	if err != nil {
		return 0, err
	}
	copy(ents, body)
	if n < 0 || n > len(ents) {
		n = len(ents)
	}
	return n, nil
}
