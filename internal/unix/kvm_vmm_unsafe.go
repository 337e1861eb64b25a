package unix

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	futexWaitPrivate = 128     // FUTEX_WAIT (0) | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 128 | 1 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

// FutexWait blocks the calling OS thread while *addr == val, until
// FutexWake or a signal (then it returns EINTR; spurious returns are
// possible, so callers loop). The VMM parks idle VCPU threads with it
// instead of Go channels: a VCPU woken through the Go scheduler could
// wait for a P held by another VCPU thread inside KVM_RUN, up to a
// sysmon tick (10 ms). addr must point to memory the Go GC does not move
// (any heap or global variable).
func FutexWait(addr *uint32, val uint32) Errno {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate, uintptr(val), 0, 0, 0)
	return e
}

// FutexWake wakes up to n threads blocked in FutexWait on addr.
func FutexWake(addr *uint32, n int) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakePrivate, uintptr(n), 0, 0, 0)
}
