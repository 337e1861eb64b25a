package hypervisor

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

func putSigevent(value uint64, signo, notify, tid int32) []byte {
	b := make([]byte, sigeventSize)
	binary.LittleEndian.PutUint64(b[0:], value)
	binary.LittleEndian.PutUint32(b[8:], uint32(signo))
	binary.LittleEndian.PutUint32(b[12:], uint32(notify))
	binary.LittleEndian.PutUint32(b[16:], uint32(tid))
	return b
}

func putItimerspec(isec, insec, vsec, vnsec int64) []byte {
	return append(timespec{isec, insec}.encode(), timespec{vsec, vnsec}.encode()...)
}

// TestDecodeSigevent checks struct sigevent's layout and good_sigevent's
// rules, bad input included.
func TestDecodeSigevent(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want sigevent
		err  error
	}{
		{"signal", putSigevent(0x1122334455667788, 34, sigevSignal, 0), sigevent{0x1122334455667788, 34, sigevSignal, 0}, nil},
		{"thread id", putSigevent(5, sigUSR1, sigevThreadID, 77), sigevent{5, sigUSR1, sigevThreadID, 77}, nil},
		{"glibc thread", putSigevent(1, 32, sigevThread, 0), sigevent{1, 32, sigevThread, 0}, nil},
		{"none ignores the signal", putSigevent(0, -5, sigevNone, 0), sigevent{0, -5, sigevNone, 0}, nil},
		{"signal 0", putSigevent(0, 0, sigevSignal, 0), sigevent{}, unix.EINVAL},
		{"signal 65", putSigevent(0, 65, sigevThreadID, 1), sigevent{}, unix.EINVAL},
		{"negative signal", putSigevent(0, -1, sigevThread, 0), sigevent{}, unix.EINVAL},
		{"notify 3", putSigevent(0, 10, 3, 0), sigevent{}, unix.EINVAL},
		{"notify thread id|thread", putSigevent(0, 10, sigevThreadID|sigevThread, 0), sigevent{}, unix.EINVAL},
		{"notify -1", putSigevent(0, 10, -1, 0), sigevent{}, unix.EINVAL},
		{"short", make([]byte, 16), sigevent{}, unix.EINVAL},
	} {
		got, err := decodeSigevent(tc.b)
		if got != tc.want || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%s: %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

// TestDecodeItimerspec checks struct itimerspec's layout (interval
// first) and itimerspec64_valid.
func TestDecodeItimerspec(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want itimerspec
		err  error
	}{
		{"both", putItimerspec(1, 2, 3, 4), itimerspec{timespec{1, 2}, timespec{3, 4}}, nil},
		{"zero", putItimerspec(0, 0, 0, 0), itimerspec{}, nil},
		{"max nsec", putItimerspec(0, 999999999, 0, 999999999), itimerspec{timespec{0, 999999999}, timespec{0, 999999999}}, nil},
		{"interval nsec 1e9", putItimerspec(0, 1e9, 0, 0), itimerspec{}, unix.EINVAL},
		{"value nsec 1e9", putItimerspec(0, 0, 0, 1e9), itimerspec{}, unix.EINVAL},
		{"negative interval", putItimerspec(-1, 0, 1, 0), itimerspec{}, unix.EINVAL},
		{"negative value nsec", putItimerspec(0, 0, 0, -1), itimerspec{}, unix.EINVAL},
		{"short", make([]byte, 31), itimerspec{}, unix.EINVAL},
	} {
		got, err := decodeItimerspec(tc.b)
		if err == nil && got != tc.want || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%s: %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
	b := encodeItimerspec(1500*time.Millisecond, 2*time.Nanosecond)
	if got, err := decodeItimerspec(b); err != nil || got != (itimerspec{timespec{1, 5e8}, timespec{0, 2}}) {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}

// TestTimerClocks checks which clocks timer_create and timerfd_create
// take, and with which error they refuse the others.
func TestTimerClocks(t *testing.T) {
	cpu := ^0 << 3 // MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_PROF): the calling process
	for _, tc := range []struct {
		clock         int
		posix, timerf error
	}{
		{clockRealtime, nil, nil},
		{clockMonotonic, nil, nil},
		{clockBoottime, nil, nil},
		{clockTAI, nil, unix.EINVAL},
		{clockProcessCputimeID, nil, unix.EINVAL},
		{clockThreadCputimeID, nil, unix.EINVAL},
		{cpu, nil, unix.EINVAL},
		{-6, nil, unix.EINVAL},         // MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_SCHED)
		{-2, nil, unix.EINVAL},         // a thread's CPUCLOCK_SCHED (glibc's pthread_getcpuclockid)
		{-1, unix.EINVAL, unix.EINVAL}, // which = 3
		{clockMonotonicRaw, unix.EOPNOTSUPP, unix.EINVAL},
		{clockRealtimeCoarse, unix.EOPNOTSUPP, unix.EINVAL},
		{clockMonotonicCoarse, unix.EOPNOTSUPP, unix.EINVAL},
		{clockRealtimeAlarm, unix.EPERM, unix.EPERM},
		{clockBoottimeAlarm, unix.EPERM, unix.EPERM},
		{10, unix.EINVAL, unix.EINVAL},
		{12, unix.EINVAL, unix.EINVAL},
		{1 << 20, unix.EINVAL, unix.EINVAL},
	} {
		if err := posixClockErr(tc.clock); err != tc.posix {
			t.Errorf("timer_create clock %d: %v, want %v", tc.clock, err, tc.posix)
		}
		if err := timerfdClockErr(tc.clock); err != tc.timerf {
			t.Errorf("timerfd_create clock %d: %v, want %v", tc.clock, err, tc.timerf)
		}
	}
}

// TestForward checks the periodic arithmetic that counts overruns and
// timerfd ticks.
func TestForward(t *testing.T) {
	d := time.Unix(1000, 0)
	for _, tc := range []struct {
		now    time.Duration // after d
		next   time.Duration
		missed int64
	}{
		{-time.Second, 0, 0}, // not expired yet
		{0, 10 * time.Millisecond, 0},
		{9 * time.Millisecond, 10 * time.Millisecond, 0},
		{10 * time.Millisecond, 20 * time.Millisecond, 1},
		{105 * time.Millisecond, 110 * time.Millisecond, 10},
	} {
		next, missed := forward(d, 10*time.Millisecond, d.Add(tc.now))
		if !next.Equal(d.Add(tc.next)) || missed != tc.missed {
			t.Errorf("now %v: next %v missed %d, want %v %d", tc.now, next.Sub(d), missed, tc.next, tc.missed)
		}
	}
}

// TestTimerSyscalls checks the argument rules of the timer system calls
// without KVM.
func TestTimerSyscalls(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	mm := p.mm
	ev, spec, out := base, base+256, base+512
	mm.CopyOut(ev, putSigevent(0, sigUSR1, sigevThreadID, int32(th.tid)))
	mm.CopyOut(spec, putItimerspec(0, 0, 100, 0))
	// CPU clocks of a process and a thread that are not there
	// (make_process_cpuclock: ~pid << 3 | perthread << 2 | which).
	pid, tid := guestPID+1, 999
	otherProc, otherThread := uint64(int64(^pid<<3)), uint64(int64(^tid<<3|6))
	for _, tc := range []struct {
		name string
		nr   int
		args SyscallArgs
		err  error
	}{
		{"create thread id", sysTimerCreate, SyscallArgs{clockMonotonic, ev, out}, nil},
		{"create NULL sevp", sysTimerCreate, SyscallArgs{clockRealtime, 0, out}, nil},
		{"create process cpu", sysTimerCreate, SyscallArgs{clockProcessCputimeID, 0, out}, nil},
		{"create other process's cpu", sysTimerCreate, SyscallArgs{otherProc, 0, out}, unix.EINVAL},
		{"create other thread's cpu", sysTimerCreate, SyscallArgs{otherThread, 0, out}, unix.EINVAL},
		{"create alarm", sysTimerCreate, SyscallArgs{clockRealtimeAlarm, 0, out}, unix.EPERM},
		{"create bad clock", sysTimerCreate, SyscallArgs{55, 0, out}, unix.EINVAL},
		{"create bad sevp", sysTimerCreate, SyscallArgs{clockMonotonic, 8, out}, unix.EFAULT},
		{"create bad sevp and clock", sysTimerCreate, SyscallArgs{55, 8, out}, unix.EFAULT},
		{"create bad timerid", sysTimerCreate, SyscallArgs{clockMonotonic, 0, 8}, unix.EFAULT},
		{"settime", sysTimerSettime, SyscallArgs{0, 0, spec, out}, nil},
		{"settime abs", sysTimerSettime, SyscallArgs{0, timerAbstime, spec, 0}, nil},
		{"settime NULL", sysTimerSettime, SyscallArgs{0, 0, 0, 0}, unix.EINVAL},
		{"settime bad id", sysTimerSettime, SyscallArgs{77, 0, spec, 0}, unix.EINVAL},
		{"settime id 2^32", sysTimerSettime, SyscallArgs{1 << 32, 0, spec, 0}, nil}, // an int: the low 32 bits
		{"gettime", sysTimerGettime, SyscallArgs{0, out}, nil},
		{"gettime fault", sysTimerGettime, SyscallArgs{0, 8}, unix.EFAULT},
		{"getoverrun", sysTimerGetoverrun, SyscallArgs{1}, nil},
		{"delete", sysTimerDelete, SyscallArgs{1}, nil},
		{"delete again", sysTimerDelete, SyscallArgs{1}, unix.EINVAL},
		{"delete -1", sysTimerDelete, SyscallArgs{^uint64(0)}, unix.EINVAL},
		{"timerfd alarm", sysTimerfdCreate, SyscallArgs{clockBoottimeAlarm, 0}, unix.EPERM},
		{"timerfd tai", sysTimerfdCreate, SyscallArgs{clockTAI, 0}, unix.EINVAL},
		{"timerfd flags", sysTimerfdCreate, SyscallArgs{clockMonotonic, tfdTimerAbstime}, unix.EINVAL},
		{"timerfd settime stdout", sysTimerfdSettime, SyscallArgs{1, 0, spec, 0}, unix.EINVAL},
		{"timerfd gettime no fd", sysTimerfdGettime, SyscallArgs{500, out}, unix.EBADF},
	} {
		_, err := th.dispatchSyscall(uint64(tc.nr), tc.args)
		if !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	if u := p.vm.Stats().Unimplemented; len(u) != 0 {
		t.Errorf("unimplemented system calls: %v", u)
	}
	var b [itimerspecSize]byte
	mm.CopyIn(out, b[:])
	if got, err := decodeItimerspec(b[:]); err != nil || got.value.sec > 100 || got.value.nanos() == 0 {
		t.Errorf("gettime: %+v %v", got, err)
	}
	// The timer goes with the process, and no new one comes.
	p.stopSignals()
	if _, err := th.dispatchSyscall(sysTimerCreate, SyscallArgs{clockMonotonic, 0, out}); err != unix.EAGAIN {
		t.Errorf("create after exit: %v", err)
	}
}

// TestPosixTimerOverrun checks what dequeuing a periodic timer's signal
// does: the periods skipped since it expired become si_overrun and
// timer_getoverrun, the timer is rearmed at the next period, and a
// signal of an earlier setting changes nothing.
func TestPosixTimerOverrun(t *testing.T) {
	th, _ := newFakeProcess(t)
	p := th.proc
	tm, err := p.sig.timers.create(p, clockMonotonic, cpuClock{}, sigevent{signo: sigUSR1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.stopSignals()
	tm.mu.Lock()
	tm.interval = time.Hour
	tm.deadline = time.Now().Add(-10*time.Hour - 30*time.Minute)
	tm.queued = true
	gen := tm.gen
	tm.mu.Unlock()

	stale := siginfo{signo: sigUSR1, code: siTimer, timer: tm, timerGen: gen - 1}
	tm.dequeued(&stale)
	if stale.uid != 0 || tm.overruns() != 0 {
		t.Errorf("stale signal: overrun %d, getoverrun %d", stale.uid, tm.overruns())
	}
	info := siginfo{signo: sigUSR1, code: siTimer, timer: tm, timerGen: gen}
	tm.dequeued(&info)
	if info.uid != 10 || tm.overruns() != 10 {
		t.Errorf("overrun %d, getoverrun %d; want 10", info.uid, tm.overruns())
	}
	iv, left := tm.get()
	if iv != time.Hour || left <= 0 || left > 30*time.Minute {
		t.Errorf("after rearm: interval %v, left %v", iv, left)
	}
	tm.mu.Lock()
	armed, queued := tm.timer != nil, tm.queued
	tm.mu.Unlock()
	if !armed || queued {
		t.Errorf("armed %v queued %v after dequeue", armed, queued)
	}

	// The signal in the queue: taking it dequeues it.
	tm.mu.Lock()
	tm.queued = true
	tm.mu.Unlock()
	p.sig.mu.Lock()
	p.sig.shared.add(siginfo{signo: sigUSR1, code: siTimer, pid: uint32(tm.id), timer: tm, timerGen: tm.gen})
	got := p.sig.shared.take(sigUSR1)
	p.sig.mu.Unlock()
	if got.code != siTimer || got.uid != 0 || tm.overruns() != 0 {
		t.Errorf("taken: %+v, getoverrun %d", got, tm.overruns())
	}
	// A signal of an earlier setting is purged.
	p.sig.mu.Lock()
	p.sig.shared.add(siginfo{signo: sigUSR1, code: siTimer, timer: tm, timerGen: 1})
	p.sig.mu.Unlock()
	p.purgeTimerSignals(tm)
	if p.sig.shared.set != 0 || len(p.sig.shared.queue) != 0 {
		t.Errorf("stale signal left: set %#x, queue %+v", p.sig.shared.set, p.sig.shared.queue)
	}
}

// FuzzDecodeTimerArgs: the sigevent and itimerspec decoders never panic
// and accept only what they document.
func FuzzDecodeTimerArgs(f *testing.F) {
	f.Add(putSigevent(1, 10, sigevSignal, 0))
	f.Add(putItimerspec(1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ev, err := decodeSigevent(b); err == nil {
			if ev.notify != sigevNone && !validSignal(int(ev.signo)) {
				t.Fatalf("accepted %+v", ev)
			}
		}
		if its, err := decodeItimerspec(b); err == nil {
			for _, ts := range []timespec{its.interval, its.value} {
				if ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1e9 {
					t.Fatalf("accepted %+v", its)
				}
			}
		}
	})
}

// TestTimerfdTicks checks a timerfd's counting without KVM: an expiry
// already due counts at the read even before its host timer ran, a
// periodic timer left unread counts the periods it skipped, a short
// buffer is EINVAL and nothing due is errWouldBlock.
func TestTimerfdTicks(t *testing.T) {
	f := &timerFile{clock: clockMonotonic}
	defer f.Close()
	buf := make([]byte, 8)
	if _, err := f.Read(nil, hostBuf(buf[:4])); err != unix.EINVAL {
		t.Errorf("short read: %v", err)
	}
	if _, err := f.Read(nil, hostBuf(buf)); err != errWouldBlock {
		t.Errorf("disarmed read: %v", err)
	}
	if ev := f.readiness(); ev != 0 {
		t.Errorf("disarmed readiness %#x", ev)
	}
	// Absolute, an hour ago: due at once.
	now := timespec{sec: 100000}
	f.set(itimerspec{value: timespec{sec: 100000 - 3600}}, true, now)
	if ev := f.readiness(); ev&epollIn == 0 {
		t.Errorf("due readiness %#x", ev)
	}
	if n, err := f.Read(nil, hostBuf(buf)); n != 8 || err != nil || binary.LittleEndian.Uint64(buf) != 1 {
		t.Errorf("one-shot read: %d %v %d", n, err, binary.LittleEndian.Uint64(buf))
	}
	if _, err := f.Read(nil, hostBuf(buf)); err != errWouldBlock {
		t.Errorf("read after one-shot: %v", err)
	}
	// Periodic, 1 h, first expiry 10.5 h ago: 1 + 10 skipped.
	f.set(itimerspec{interval: timespec{sec: 3600}, value: timespec{sec: 100000 - 37800}}, true, now)
	if n, err := f.Read(nil, hostBuf(buf)); n != 8 || err != nil || binary.LittleEndian.Uint64(buf) != 11 {
		t.Errorf("periodic read: %d %v %d", n, err, binary.LittleEndian.Uint64(buf))
	}
	iv, left := f.get()
	if iv != time.Hour || left <= 0 || left > 30*time.Minute {
		t.Errorf("gettime: interval %v left %v", iv, left)
	}
	oldIv, oldLeft := f.set(itimerspec{}, false, now)
	if oldIv != time.Hour || oldLeft <= 0 || f.readiness() != 0 {
		t.Errorf("disarm: old %v %v readiness %#x", oldIv, oldLeft, f.readiness())
	}
}
