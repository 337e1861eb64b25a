package hypervisor

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

func TestSignalfdArgs(t *testing.T) {
	usr1 := sigmask(sigUSR1)
	for _, tc := range []struct {
		name     string
		mask     sigset
		sizemask uint64
		flags    int
		want     sigset
		err      error
	}{
		{"plain", usr1, 8, 0, usr1, nil},
		{"flags", usr1, 8, sfdCloexec | sfdNonblock, usr1, nil},
		{"kill and stop dropped", usr1 | unblockable, 8, 0, usr1, nil},
		{"only kill", sigmask(sigKILL), 8, 0, 0, nil},
		{"everything", ^sigset(0), 8, 0, ^sigset(0) &^ unblockable, nil},
		{"sizemask 4", usr1, 4, 0, 0, unix.EINVAL},
		{"sizemask 16", usr1, 16, 0, 0, unix.EINVAL},
		{"sizemask 0", usr1, 0, 0, 0, unix.EINVAL},
		{"flag 1", usr1, 8, 1, 0, unix.EINVAL},
		{"O_APPEND", usr1, 8, unix.O_APPEND, 0, unix.EINVAL},
		{"negative flags", usr1, 8, -1, 0, unix.EINVAL},
	} {
		got, err := signalfdArgs(tc.mask, tc.sizemask, tc.flags)
		if err != tc.err || got != tc.want {
			t.Errorf("%s: %#x, %v; want %#x, %v", tc.name, uint64(got), err, uint64(tc.want), tc.err)
		}
	}
}

func TestSiginfoLayout(t *testing.T) {
	for _, tc := range []struct {
		sig, code int32
		want      siginfoLayout
	}{
		{sigUSR1, siUser, silKill},
		{sigUSR1, siKernel, silKill},
		{sigUSR1, siTkill, silRT},
		{sigRTMIN, siQueue, silRT},
		{sigALRM, siTimer, silTimer},
		{sigIO, siSigio, silPoll},
		{sigIO, 1, silPoll}, // POLL_IN
		{sigSEGV, segvMaperr, silFault},
		{sigSEGV, 10, silFault}, // SEGV_CPERR
		{sigSEGV, 11, silKill},  // past NSIGSEGV and NSIGPOLL
		{sigBUS, busAdraln, silFault},
		{sigBUS, busMceerrAR, silFaultMceerr},
		{sigBUS, busMceerrAO, silFaultMceerr},
		{sigCHLD, 1, silChld},
		{sigSYS, 1, silSys},
		{sigUSR2, 3, silPoll}, // a positive code of a signal without codes
		{sigUSR2, 7, silKill},
		{sigTRAP, trapTrace, silFault},
		{sigFPE, fpeIntdiv, silFault},
		{sigILL, illIllopn, silFault},
	} {
		if got := layoutOf(tc.sig, tc.code); got != tc.want {
			t.Errorf("layoutOf(%s, %d) = %d, want %d", signalName(int(tc.sig)), tc.code, got, tc.want)
		}
	}
}

// sfdFields are the fields of a struct signalfd_siginfo by offset, with
// their sizes, for comparing decoded reads.
type sfdFields map[int]uint64

var sfdSizes = map[int]int{
	sfdOffSigno: 4, sfdOffErrno: 4, sfdOffCode: 4, sfdOffPid: 4, sfdOffUID: 4, sfdOffFd: 4,
	sfdOffTid: 4, sfdOffBand: 4, sfdOffOverrun: 4, sfdOffTrapno: 4, sfdOffStatus: 4, sfdOffInt: 4,
	sfdOffPtr: 8, sfdOffUtime: 8, sfdOffStime: 8, sfdOffAddr: 8, sfdOffAddrLsb: 2,
	sfdOffSyscall: 4, sfdOffCallAddr: 8, sfdOffArch: 4,
}

// codeField is how a negative si_code reads as a field of checkSfd.
func codeField(code int32) uint64 { return uint64(uint32(code)) }

// checkSfd compares b with want, every field not in want being zero,
// and the padding too.
func checkSfd(t *testing.T, name string, b []byte, want sfdFields) {
	t.Helper()
	if len(b) != signalfdInfoSize {
		t.Fatalf("%s: %d bytes", name, len(b))
	}
	le := binary.LittleEndian
	covered := make([]bool, signalfdInfoSize)
	for off, size := range sfdSizes {
		var got uint64
		switch size {
		case 2:
			got = uint64(le.Uint16(b[off:]))
		case 4:
			got = uint64(le.Uint32(b[off:]))
		case 8:
			got = le.Uint64(b[off:])
		}
		if got != want[off] {
			t.Errorf("%s: field at %d = %#x, want %#x", name, off, got, want[off])
		}
		for i := off; i < off+size; i++ {
			covered[i] = true
		}
	}
	for i, c := range covered {
		if !c && b[i] != 0 {
			t.Errorf("%s: padding byte %d = %#x", name, i, b[i])
		}
	}
}

func TestEncodeSignalfdInfo(t *testing.T) {
	u32 := func(v int32) uint64 { return uint64(uint32(v)) }
	raw := func(sig, code int32, union map[int]uint64) []byte {
		b := make([]byte, siginfoSize)
		le := binary.LittleEndian
		le.PutUint32(b[0:], uint32(sig))
		le.PutUint32(b[4:], 5) // errno
		le.PutUint32(b[8:], uint32(code))
		for off, v := range union {
			le.PutUint64(b[siOffUnion+off:], v)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		si   []byte
		want sfdFields
	}{
		{"kill", (&siginfo{signo: sigUSR1, code: siUser, pid: 1000, uid: 7, value: 99}).encode(),
			sfdFields{sfdOffSigno: sigUSR1, sfdOffPid: 1000, sfdOffUID: 7}},
		{"tkill", (&siginfo{signo: sigUSR2, code: siTkill, pid: 1000, uid: 7}).encode(),
			sfdFields{sfdOffSigno: sigUSR2, sfdOffCode: u32(siTkill), sfdOffPid: 1000, sfdOffUID: 7}},
		{"sigqueue", (&siginfo{signo: sigRTMIN, code: siQueue, pid: 1000, uid: 7, value: 0x1234_0000_0042}).encode(),
			sfdFields{sfdOffSigno: sigRTMIN, sfdOffCode: u32(siQueue), sfdOffPid: 1000, sfdOffUID: 7,
				sfdOffInt: 0x42, sfdOffPtr: 0x1234_0000_0042}},
		{"timer", (&siginfo{signo: sigALRM, code: siTimer, pid: 3, uid: 12, value: 77}).encode(),
			sfdFields{sfdOffSigno: sigALRM, sfdOffCode: u32(siTimer), sfdOffTid: 3, sfdOffOverrun: 12,
				sfdOffInt: 77, sfdOffPtr: 77}},
		{"fault", (&siginfo{signo: sigSEGV, code: segvMaperr, addr: 0xdead000}).encode(),
			sfdFields{sfdOffSigno: sigSEGV, sfdOffCode: segvMaperr, sfdOffAddr: 0xdead000}},
		{"kernel", (&siginfo{signo: sigSEGV, code: siKernel}).encode(),
			sfdFields{sfdOffSigno: sigSEGV, sfdOffCode: siKernel}},
		{"mceerr", raw(sigBUS, busMceerrAR, map[int]uint64{0: 0x5000, 8: 12}),
			sfdFields{sfdOffSigno: sigBUS, sfdOffErrno: 5, sfdOffCode: busMceerrAR, sfdOffAddr: 0x5000, sfdOffAddrLsb: 12}},
		{"chld", raw(sigCHLD, 1, map[int]uint64{0: 7<<32 | 1000, 8: 3, 16: 11, 24: 22}),
			sfdFields{sfdOffSigno: sigCHLD, sfdOffErrno: 5, sfdOffCode: 1, sfdOffPid: 1000, sfdOffUID: 7,
				sfdOffStatus: 3, sfdOffUtime: 11, sfdOffStime: 22}},
		{"poll", raw(sigIO, 1, map[int]uint64{0: 0x1_0000_0041, 8: 9}),
			sfdFields{sfdOffSigno: sigIO, sfdOffErrno: 5, sfdOffCode: 1, sfdOffBand: 0x41, sfdOffFd: 9}},
		{"sigio", raw(sigIO, siSigio, map[int]uint64{0: 1, 8: 4}),
			sfdFields{sfdOffSigno: sigIO, sfdOffErrno: 5, sfdOffCode: u32(siSigio), sfdOffBand: 1, sfdOffFd: 4}},
		{"sys", raw(sigSYS, 1, map[int]uint64{0: 0x401000, 8: 0xc000003e<<32 | 39}),
			sfdFields{sfdOffSigno: sigSYS, sfdOffErrno: 5, sfdOffCode: 1, sfdOffCallAddr: 0x401000,
				sfdOffSyscall: 39, sfdOffArch: 0xc000003e}},
	} {
		checkSfd(t, tc.name, encodeSignalfdInfo(tc.si), tc.want)
	}
}

// FuzzEncodeSignalfdInfo: any siginfo_t encodes without a panic, with
// signo, errno and code copied and the padding zero.
func FuzzEncodeSignalfdInfo(f *testing.F) {
	f.Add((&siginfo{signo: sigRTMIN, code: siQueue, pid: 1, value: 2}).encode())
	f.Add((&siginfo{signo: sigSEGV, code: segvAccerr, addr: 3}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		si := make([]byte, siginfoSize)
		copy(si, b)
		out := encodeSignalfdInfo(si)
		if len(out) != signalfdInfoSize {
			t.Fatalf("%d bytes", len(out))
		}
		for i := 0; i < 12; i++ {
			if out[i] != si[i] {
				t.Fatalf("header byte %d: %#x, want %#x", i, out[i], si[i])
			}
		}
		for i := sfdOffArch + 4; i < signalfdInfoSize; i++ {
			if out[i] != 0 {
				t.Fatalf("padding byte %d = %#x", i, out[i])
			}
		}
	})
}

// TestSignalfdSyscalls checks signalfd and signalfd4 without KVM: every
// errno, the mask replaced on an existing fd, reads that take signals
// from the thread's queue before the process's, several per read, and
// a POSIX timer's signal that a read dequeues as delivery would.
func TestSignalfdSyscalls(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	mm := p.mm
	maskAddr, buf := base, base+pageSize
	put := func(set sigset) { mm.WriteUint64(maskAddr, uint64(set)) }
	put(sigmask(sigUSR1) | sigmask(sigRTMIN) | sigmask(sigKILL))
	fd, err := th.dispatchSyscall(sysSignalfd4, SyscallArgs{^uint64(0), maskAddr, 8, sfdNonblock})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		nr   int
		args SyscallArgs
		err  error
	}{
		{"sizemask", sysSignalfd4, SyscallArgs{^uint64(0), maskAddr, 4, 0}, unix.EINVAL},
		{"old sizemask", sysSignalfd, SyscallArgs{^uint64(0), maskAddr, 16}, unix.EINVAL},
		{"sizemask before fault", sysSignalfd4, SyscallArgs{^uint64(0), 8, 4, 0}, unix.EINVAL},
		{"fault", sysSignalfd4, SyscallArgs{^uint64(0), 8, 8, 0}, unix.EFAULT},
		{"fault before flags", sysSignalfd4, SyscallArgs{^uint64(0), 0, 8, 1}, unix.EFAULT},
		{"flags", sysSignalfd4, SyscallArgs{^uint64(0), maskAddr, 8, 1}, unix.EINVAL},
		{"flags before fd", sysSignalfd4, SyscallArgs{500, maskAddr, 8, 1}, unix.EINVAL},
		{"not open", sysSignalfd4, SyscallArgs{500, maskAddr, 8, 0}, unix.EBADF},
		{"fd -2", sysSignalfd4, SyscallArgs{uint64(1<<32 - 2), maskAddr, 8, 0}, unix.EBADF},
		{"not a signalfd", sysSignalfd4, SyscallArgs{1, maskAddr, 8, 0}, unix.EINVAL},
		{"short read", sysRead, SyscallArgs{fd, buf, signalfdInfoSize - 1}, unix.EINVAL},
		{"empty read", sysRead, SyscallArgs{fd, buf, signalfdInfoSize}, unix.EAGAIN},
		{"write", sysWrite, SyscallArgs{fd, buf, 8}, unix.EINVAL},
		{"pread", sysPread64, SyscallArgs{fd, buf, signalfdInfoSize, 0}, unix.ESPIPE},
		{"lseek", sysLseek, SyscallArgs{fd, 10, 0}, nil},
		{"old signalfd", sysSignalfd, SyscallArgs{^uint64(0), maskAddr, 8}, nil},
	} {
		_, err := th.dispatchSyscall(uint64(tc.nr), tc.args)
		if !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}

	of, err := p.fds.get(int(fd))
	if err != nil {
		t.Fatal(err)
	}
	f := of.File.(*signalFile)
	p.fds.put(of)
	if got := f.sigmask(); got != sigmask(sigUSR1)|sigmask(sigRTMIN) {
		t.Errorf("mask %#x: SIGKILL kept", uint64(got))
	}
	if f.readiness() != 0 {
		t.Errorf("readable with nothing pending")
	}
	w := make(chanWaker, 1)
	f.q.add(w)
	defer f.q.remove(w)

	// Blocked signals: a process-directed real-time pair, then one for
	// the thread. The thread's comes first, then the lowest signal, and
	// real-time ones in order.
	th.sig.mask = sigmask(sigUSR1) | sigmask(sigRTMIN) | sigmask(sigUSR2)
	send := func(info siginfo, target *Thread) {
		t.Helper()
		if err := p.sendSignal(info, target, nil); err != nil {
			t.Fatal(err)
		}
	}
	send(siginfo{signo: sigRTMIN, code: siQueue, pid: 1000, value: 1}, nil)
	select {
	case <-w:
	default:
		t.Errorf("queueing a signal of the mask did not notify the signalfd")
	}
	if f.readiness()&epollIn == 0 {
		t.Errorf("not readable with a signal pending")
	}
	send(siginfo{signo: sigRTMIN, code: siQueue, pid: 1000, value: 2}, nil)
	send(siginfo{signo: sigUSR2, code: siUser, pid: 1000}, nil) // not in the mask
	send(siginfo{signo: sigRTMIN, code: siTkill, pid: 1000, value: 3}, th)
	n, err := th.dispatchSyscall(sysRead, SyscallArgs{fd, buf, 2*signalfdInfoSize + 100})
	if err != nil || n != 2*signalfdInfoSize {
		t.Fatalf("read: %d, %v", n, err)
	}
	b := make([]byte, 2*signalfdInfoSize)
	mm.CopyIn(buf, b)
	checkSfd(t, "thread's", b[:signalfdInfoSize], sfdFields{sfdOffSigno: sigRTMIN, sfdOffCode: codeField(siTkill), sfdOffPid: 1000, sfdOffInt: 3, sfdOffPtr: 3})
	checkSfd(t, "first queued", b[signalfdInfoSize:], sfdFields{sfdOffSigno: sigRTMIN, sfdOffCode: codeField(siQueue), sfdOffPid: 1000, sfdOffInt: 1, sfdOffPtr: 1})
	n, err = th.dispatchSyscall(sysRead, SyscallArgs{fd, buf, 4 * signalfdInfoSize})
	if err != nil || n != signalfdInfoSize {
		t.Fatalf("second read: %d, %v", n, err)
	}
	mm.CopyIn(buf, b[:signalfdInfoSize])
	if v := binary.LittleEndian.Uint32(b[sfdOffInt:]); v != 2 {
		t.Errorf("second read: value %d, want 2", v)
	}
	if f.readiness() != 0 {
		t.Errorf("readable with only a signal outside the mask pending")
	}
	// signalfd4 on the fd takes USR2 in.
	put(sigmask(sigUSR2))
	if got, err := th.dispatchSyscall(sysSignalfd4, SyscallArgs{fd, maskAddr, 8, 0}); got != fd || err != nil {
		t.Fatalf("signalfd4 on fd %d: %d, %v", fd, got, err)
	}
	if f.readiness()&epollIn == 0 {
		t.Errorf("not readable after the mask took a pending signal in")
	}
	if n, err := th.dispatchSyscall(sysRead, SyscallArgs{fd, buf, signalfdInfoSize}); err != nil || n != signalfdInfoSize {
		t.Fatalf("read USR2: %d, %v", n, err)
	}

	// A periodic POSIX timer's signal: reading it rearms the timer and
	// reports the periods skipped, as delivery would.
	put(sigmask(sigALRM))
	th.dispatchSyscall(sysSignalfd4, SyscallArgs{fd, maskAddr, 8, 0})
	th.sig.mask |= sigmask(sigALRM)
	tm, err := p.sig.timers.create(p, clockMonotonic, cpuClock{}, sigevent{signo: sigALRM, value: 55})
	if err != nil {
		t.Fatal(err)
	}
	tm.mu.Lock()
	tm.interval = time.Hour
	tm.deadline = time.Now().Add(-3*time.Hour - 30*time.Minute)
	tm.queued = true
	gen := tm.gen
	tm.mu.Unlock()
	send(siginfo{signo: sigALRM, code: siTimer, pid: uint32(tm.id), value: 55, timer: tm, timerGen: gen}, nil)
	// A stale one, of an earlier setting, is dropped unread.
	send(siginfo{signo: sigALRM, code: siTimer, pid: uint32(tm.id), value: 54, timer: tm, timerGen: gen - 1}, th)
	n, err = th.dispatchSyscall(sysRead, SyscallArgs{fd, buf, 2 * signalfdInfoSize})
	if err != nil || n != signalfdInfoSize {
		t.Fatalf("timer read: %d, %v", n, err)
	}
	mm.CopyIn(buf, b[:signalfdInfoSize])
	checkSfd(t, "timer", b[:signalfdInfoSize], sfdFields{sfdOffSigno: sigALRM, sfdOffCode: codeField(siTimer),
		sfdOffTid: uint64(tm.id), sfdOffOverrun: 3, sfdOffInt: 55, sfdOffPtr: 55})
	tm.mu.Lock()
	queued, armed := tm.queued, tm.timer != nil
	tm.mu.Unlock()
	if queued || !armed || tm.overruns() != 3 {
		t.Errorf("after the read: queued %v armed %v getoverrun %d", queued, armed, tm.overruns())
	}

	// A signal pending for another thread: readable to it and to
	// pollers without a thread, not to th, whose read finds nothing.
	other := p.newThread(threadContext{})
	other.sig.mask = th.sig.mask
	send(siginfo{signo: sigALRM, code: siTkill, pid: 1000}, other)
	if f.readinessFor(th) != 0 || f.readinessFor(other)&epollIn == 0 || f.readiness()&epollIn == 0 {
		t.Errorf("readiness for th %#x, for the other thread %#x, for any %#x",
			f.readinessFor(th), f.readinessFor(other), f.readiness())
	}
	if _, err := th.dispatchSyscall(sysRead, SyscallArgs{fd, buf, signalfdInfoSize}); err != unix.EAGAIN {
		t.Errorf("read of another thread's signal: %v, want EAGAIN", err)
	}
	if n, err := other.dispatchSyscall(sysRead, SyscallArgs{fd, buf, signalfdInfoSize}); n != signalfdInfoSize || err != nil {
		t.Errorf("read by the other thread: %d, %v", n, err)
	}

	// Closing the last fd forgets the signalfd.
	th.dispatchSyscall(sysClose, SyscallArgs{fd})
	p.sig.signalfds.mu.Lock()
	_, still := p.sig.signalfds.m[f]
	p.sig.signalfds.mu.Unlock()
	if still {
		t.Errorf("closed signalfd still registered")
	}
}
