package unix

import "golang.org/x/sys/unix"

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
