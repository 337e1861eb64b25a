package unix

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// FutexWaitTimeout is FutexWait with a relative timeout on
// CLOCK_MONOTONIC; a negative timeout waits without one. It returns
// ETIMEDOUT when the time is up, EAGAIN when *addr != val already, EINTR
// on a signal, and 0 on a wake-up (or a spurious return).
func FutexWaitTimeout(addr *uint32, val uint32, timeoutNs int64) Errno {
	var ts *unix.Timespec
	if timeoutNs >= 0 {
		t := unix.NsecToTimespec(timeoutNs)
		ts = &t
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate, uintptr(val),
		uintptr(unsafe.Pointer(ts)), 0, 0)
	return e
}

// SetTimerSlack sets the calling thread's timer slack (PR_SET_TIMERSLACK):
// how much later than asked the kernel may end its timed waits, 50 µs by
// default for ordinary threads.
func SetTimerSlack(ns uint64) error {
	return unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(ns), 0, 0, 0)
}
