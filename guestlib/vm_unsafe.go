package guestlib

import (
	"runtime"
	"unsafe"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu/virt"
)

// The paravirtual calls pass guest pointers to heap memory the callers
// own (Go's heap does not move); runtime.KeepAlive holds it until the
// call returned.

func ptr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// pvOpen opens spec and writes the slot numbers to out; it returns how
// many.
func pvOpen(spec []byte, flags uintptr, out []byte) (int, error) {
	r, e := unix.PVCall(virt.PVSyscall, virt.PVOpen, ptr(spec), uintptr(len(spec)), flags, ptr(out), uintptr(len(out)/4))
	runtime.KeepAlive(spec)
	runtime.KeepAlive(out)
	if e != 0 {
		return 0, pvError("open", e)
	}
	return int(r), nil
}

// pvRead reads slots into out (8 bytes per slot).
func pvRead(slots []int32, out []byte, flags uintptr) error {
	_, e := unix.PVCall(virt.PVSyscall, virt.PVRead, uintptr(unsafe.Pointer(unsafe.SliceData(slots))), uintptr(len(slots)), ptr(out), flags, 0)
	runtime.KeepAlive(slots)
	runtime.KeepAlive(out)
	if e != 0 {
		return pvError("read", e)
	}
	return nil
}

// pvSlots runs an operation on slots (enable, disable, reset, close).
func pvSlots(op uintptr, slots []int32) error {
	_, e := unix.PVCall(virt.PVSyscall, op, uintptr(unsafe.Pointer(unsafe.SliceData(slots))), uintptr(len(slots)), 0, 0, 0)
	runtime.KeepAlive(slots)
	if e != 0 {
		return pvError("control", e)
	}
	return nil
}

// pvInfo returns the guest address of the calling thread's state page.
func pvInfo() (uint64, error) {
	r, e := unix.PVCall(virt.PVSyscall, virt.PVInfo, 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, pvError("info", e)
	}
	return uint64(r), nil
}

// pvLastError copies the thread's last error text into buf and returns
// its full length.
func pvLastError(buf []byte) (int, error) {
	r, e := unix.PVCall(virt.PVSyscall, virt.PVLastError, ptr(buf), uintptr(len(buf)), 0, 0, 0)
	runtime.KeepAlive(buf)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// pagesAt views the thread state page at guest address self, and the
// VCPU pages it names. The VMM maps them read-only into every thread for
// the life of the VM; they are outside Go's heap.
func pagesAt(self uint64) pageSet {
	tp := (*virt.ThreadPage)(addrPointer(self))
	return pageSet{tp: tp, vcpus: (*[virt.MaxVCPUs]virt.VCPUPage)(addrPointer(tp.VCPUBase))}
}

// addrPointer turns a guest address the VMM handed out into a pointer.
func addrPointer(a uint64) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
