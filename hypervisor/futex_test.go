package hypervisor

import (
	"errors"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// waitOn runs FUTEX_WAIT_PRIVATE for th on addr and returns the waiter.
func waitOn(t *testing.T, th *Thread, addr uint64, val uint32, deadline time.Time) *futexWaiter {
	t.Helper()
	th.state = threadRunning
	w, err := th.proc.futexes.enqueue(th.proc.mm, addr, val, futexBitsetAny, th, deadline)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := th.park(w); !errors.Is(err, errBlock) {
		t.Fatalf("park: %v", err)
	}
	// As the VCPU loop does when the thread has left its VCPU.
	th.proc.vm.sched.afterOut(&vcpu{}, th, SwitchBlocked)
	return w
}

func TestFutexWaitWake(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	if _, err := p.futexes.enqueue(p.mm, base, 1, futexBitsetAny, th, time.Time{}); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("wait on a changed value: %v, want EAGAIN", err)
	}
	if _, err := p.futexes.enqueue(p.mm, base+2, 0, futexBitsetAny, th, time.Time{}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned wait: %v, want EINVAL", err)
	}
	if _, err := p.futexes.enqueue(p.mm, 8, 0, futexBitsetAny, th, time.Time{}); !errors.Is(err, unix.EFAULT) {
		t.Errorf("wait on unmapped memory: %v, want EFAULT", err)
	}
	waitOn(t, th, base, 0, time.Time{})
	if th.state != threadBlocked {
		t.Fatalf("waiting thread state %d", th.state)
	}
	if n := p.futexes.wake(base+4, 1, futexBitsetAny); n != 0 {
		t.Errorf("wake of another word woke %d", n)
	}
	if n := p.futexes.wake(base, 5, futexBitsetAny); n != 1 {
		t.Errorf("wake woke %d, want 1", n)
	}
	if th.state != threadRunnable || th.ctx.regs.RAX != 0 {
		t.Errorf("after the wake: state %d, RAX %#x", th.state, th.ctx.regs.RAX)
	}
}

func TestFutexTimeout(t *testing.T) {
	th, base := newFakeProcess(t)
	waitOn(t, th, base, 0, time.Now().Add(time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for {
		th.proc.vm.sched.mu.Lock()
		st := th.state
		th.proc.vm.sched.mu.Unlock()
		if st == threadRunnable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timeout never fired")
		}
		time.Sleep(time.Millisecond)
	}
	if got := th.ctx.regs.RAX; got != errnoReturn(unix.ETIMEDOUT) {
		t.Errorf("RAX = %#x, want -ETIMEDOUT", got)
	}
	if n := th.proc.futexes.wake(base, 1, futexBitsetAny); n != 0 {
		t.Errorf("timed-out waiter still queued (%d woken)", n)
	}
}

// TestFutexWakeBeforeLeavingVCPU: a wake that comes while the waiter is
// still on its VCPU must not be lost; afterOut makes it runnable.
func TestFutexWakeBeforeLeavingVCPU(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	th.state = threadRunning
	w, err := p.futexes.enqueue(p.mm, base, 0, futexBitsetAny, th, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	th.park(w)
	if n := p.futexes.wake(base, 1, futexBitsetAny); n != 1 {
		t.Fatalf("woke %d", n)
	}
	if !th.woken || th.state != threadRunning {
		t.Fatalf("early wake not recorded: woken %v state %d", th.woken, th.state)
	}
	p.vm.sched.afterOut(&vcpu{}, th, SwitchBlocked)
	if th.state != threadRunnable || th.woken {
		t.Errorf("after afterOut: state %d woken %v", th.state, th.woken)
	}
}

// TestFutexWaitWhileExiting: a thread that parks after its process began
// to exit (and after exit interrupted the threads) is interrupted by park
// itself, so the process can finish.
func TestFutexWaitWhileExiting(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	other := p.newThread(threadContext{})
	other.state = threadRunning
	p.exit(ExitStatus{Code: 3}, nil)
	waitOn(t, th, base, 0, time.Time{})
	if th.state != threadExited {
		t.Errorf("thread parked in an exiting process: state %d", th.state)
	}
	if n := p.futexes.wake(base, 1, futexBitsetAny); n != 0 {
		t.Errorf("waiter still queued")
	}
}

func TestFutexRequeue(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	var ths []*Thread
	for i := 0; i < 4; i++ {
		x := p.newThread(threadContext{})
		waitOn(t, x, base, 0, time.Time{})
		ths = append(ths, x)
	}
	if _, err := p.futexes.requeue(p.mm, base, base+8, 1, 2, true, 7); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("CMP_REQUEUE with a wrong value: %v, want EAGAIN", err)
	}
	n, err := p.futexes.requeue(p.mm, base, base+8, 1, 2, true, 0)
	if err != nil || n != 3 {
		t.Fatalf("requeue = %d, %v; want 1 woken + 2 moved", n, err)
	}
	if ths[0].state != threadRunnable {
		t.Errorf("first waiter not woken")
	}
	if got := p.futexes.wake(base+8, 10, futexBitsetAny); got != 2 {
		t.Errorf("%d waiters on the target word, want 2", got)
	}
	if got := p.futexes.wake(base, 10, futexBitsetAny); got != 1 {
		t.Errorf("%d waiters left on the source word, want 1", got)
	}
}

func TestFutexBitset(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	th.state = threadRunning
	w, err := p.futexes.enqueue(p.mm, base, 0, 0x2, th, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	th.park(w)
	if n := p.futexes.wake(base, 1, 0x1); n != 0 {
		t.Errorf("bitset 0x1 woke a 0x2 waiter")
	}
	if n := p.futexes.wake(base, 1, 0x6); n != 1 {
		t.Errorf("bitset 0x6 did not wake a 0x2 waiter")
	}
}
