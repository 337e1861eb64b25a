package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// POSIX per-process timers (kernel/time/posix-timers.c): timer_create,
// timer_settime, timer_gettime, timer_getoverrun and timer_delete, on
// the host's CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME and
// CLOCK_TAI. A timer notifies with a signal to the process
// (SIGEV_SIGNAL, and glibc's SIGEV_THREAD, which the kernel treats the
// same), to one thread (SIGEV_THREAD_ID, how glibc implements
// SIGEV_THREAD), or not at all (SIGEV_NONE). Timers on CPU-time clocks
// (cpuclock.go) count the guest time of the process or of a thread.
//
// As in Linux, a periodic timer whose signal is queued is not rearmed:
// dequeuing the signal rearms it at the next period after now and
// counts the periods skipped as the overrun (si_overrun,
// timer_getoverrun). One whose signal is ignored, or whose thread has
// exited, is parked until the signal is no longer ignored (Linux 6.13's
// ignored list), so that it costs nothing. An idle or waiting timer is a
// stopped or pending time.Timer, no goroutine; a process has at most
// maxPosixTimers.

func init() {
	registerSyscall(sysTimerCreate, sysTimerCreateFn)
	registerSyscall(sysTimerSettime, sysTimerSettimeFn)
	registerSyscall(sysTimerGettime, sysTimerGettimeFn)
	registerSyscall(sysTimerGetoverrun, sysTimerGetoverrunFn)
	registerSyscall(sysTimerDelete, sysTimerDeleteFn)
}

const (
	// maxPosixTimers bounds a process's timers: timer_create fails with
	// EAGAIN beyond it (Linux: when no sigqueue can be allocated).
	maxPosixTimers = 1024
	// overrunMax is the largest overrun reported (DELAYTIMER_MAX).
	overrunMax = 1<<31 - 1
)

func sysTimerCreateFn(t *Thread, a SyscallArgs) (uint64, error) {
	// Linux's order: the sigevent is copied in (EFAULT), then the clock
	// is checked, then the sigevent.
	var b [sigeventSize]byte
	if a[1] != 0 {
		if err := t.proc.mm.CopyIn(a[1], b[:]); err != nil {
			return 0, err
		}
	}
	clock := a.Int(0)
	if err := posixClockErr(clock); err != nil {
		return 0, err
	}
	cpu, _, err := t.cpuClockOf(clock)
	if err != nil {
		return 0, err
	}
	ev := sigevent{signo: sigALRM, notify: sigevSignal}
	if a[1] != 0 {
		if ev, err = decodeSigevent(b[:]); err != nil {
			return 0, err
		}
		if ev.notify&sigevThreadID != 0 && t.proc.thread(int(ev.tid)) == nil {
			return 0, unix.EINVAL
		}
	}
	tm, err := t.proc.sig.timers.create(t.proc, clock, cpu, ev)
	if err != nil {
		return 0, err
	}
	if a[1] == 0 {
		tm.ev.value = uint64(tm.id) // sival_int is the timer id
	}
	var id [4]byte
	binary.LittleEndian.PutUint32(id[:], uint32(tm.id))
	if err := t.proc.mm.CopyOut(a[2], id[:]); err != nil {
		t.proc.sig.timers.remove(t.proc, int(tm.id))
		return 0, err
	}
	return 0, nil
}

func sysTimerSettimeFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a[2] == 0 {
		return 0, unix.EINVAL
	}
	spec, err := t.readItimerspec(a[2])
	if err != nil {
		return 0, err
	}
	tm, err := t.proc.sig.timers.lookup(a.Int(0))
	if err != nil {
		return 0, err
	}
	abs := a.Int(1)&timerAbstime != 0
	var now timespec
	switch {
	case abs && tm.cpu.valid():
		// The timer's clock, which may be another thread's.
		n := tm.cpu.nanos()
		now = timespec{sec: n / 1e9, nsec: n % 1e9}
	case abs:
		if now, err = t.clockNow(tm.clock); err != nil {
			return 0, err
		}
	}
	oldInterval, oldValue := tm.set(spec, abs, now)
	t.proc.purgeTimerSignals(tm)
	if a[3] != 0 {
		return 0, t.proc.mm.CopyOut(a[3], encodeItimerspec(oldInterval, oldValue))
	}
	return 0, nil
}

func sysTimerGettimeFn(t *Thread, a SyscallArgs) (uint64, error) {
	tm, err := t.proc.sig.timers.lookup(a.Int(0))
	if err != nil {
		return 0, err
	}
	return 0, t.proc.mm.CopyOut(a[1], encodeItimerspec(tm.get()))
}

func sysTimerGetoverrunFn(t *Thread, a SyscallArgs) (uint64, error) {
	tm, err := t.proc.sig.timers.lookup(a.Int(0))
	if err != nil {
		return 0, err
	}
	return uint64(tm.overruns()), nil
}

func sysTimerDeleteFn(t *Thread, a SyscallArgs) (uint64, error) {
	return 0, t.proc.sig.timers.remove(t.proc, a.Int(0))
}
