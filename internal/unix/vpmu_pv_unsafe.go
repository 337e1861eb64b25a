package unix

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// PVCall makes the vpmu hypervisor's paravirtual system call (number nr,
// operation op in RDI, arguments in RSI, RDX, R10, R8, R9) without
// telling the Go scheduler: the call never blocks. Outside the vpmu
// hypervisor Linux answers ENOSYS.
//
// Arguments that are guest pointers must point at memory the caller keeps
// alive (and on the heap) until PVCall returns.
func PVCall(nr, op, a1, a2, a3, a4, a5 uintptr) (uintptr, Errno) {
	r, _, e := unix.RawSyscall6(nr, op, a1, a2, a3, a4, a5)
	return r, e
}

// ArchGetGS returns the calling thread's GS base (arch_prctl
// ARCH_GET_GS).
func ArchGetGS() (uint64, error) {
	const archGetGS = 0x1004
	var base uint64
	_, _, e := unix.RawSyscall(unix.SYS_ARCH_PRCTL, archGetGS, uintptr(unsafe.Pointer(&base)), 0)
	if e != 0 {
		return 0, e
	}
	return base, nil
}
