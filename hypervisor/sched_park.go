package hypervisor

import (
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// parker parks and unparks one VCPU goroutine's OS thread with a raw
// futex, so that a wake-up is an OS wake-up of that thread rather than a
// goroutine made runnable on the waker's P, which a waker about to enter
// KVM_RUN would keep to itself until sysmon retakes it (up to 10 ms).
//
// One goroutine parks; any goroutine unparks. An unpark before the park
// makes the park return at once.
type parker struct {
	state atomic.Uint32 // 1: a wake-up is pending
}

// park blocks until unpark is called (or was called since the last
// park returned).
func (p *parker) park() {
	for !p.state.CompareAndSwap(1, 0) {
		unix.FutexWait(p.addr(), 0)
	}
}

// unpark wakes the parked goroutine, or makes its next park return.
func (p *parker) unpark() {
	if p.state.Swap(1) == 0 {
		unix.FutexWake(p.addr(), 1)
	}
}
