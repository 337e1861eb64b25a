package hypervisor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// testXstate is the XSAVE layout of an AVX-512 host (the development
// machine's CPUID leaf 0xd): x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM.
func testXstate() (xstateLayout, []byte) {
	cpuid := []kvm.CPUIDEntry{
		{Function: 0xd, Index: 0, EAX: 0xe7, EBX: 0x980, ECX: 0x980, Flags: kvm.CPUIDFlagSignificantIndex},
		{Function: 0xd, Index: 2, EAX: 0x100, EBX: 0x240, Flags: kvm.CPUIDFlagSignificantIndex},
		{Function: 0xd, Index: 5, EAX: 0x40, EBX: 0x340, Flags: kvm.CPUIDFlagSignificantIndex},
		{Function: 0xd, Index: 6, EAX: 0x200, EBX: 0x380, Flags: kvm.CPUIDFlagSignificantIndex},
		{Function: 0xd, Index: 7, EAX: 0x400, EBX: 0x580, Flags: kvm.CPUIDFlagSignificantIndex},
	}
	init := make([]byte, 4096)
	binary.LittleEndian.PutUint16(init[fxFCW:], x87InitFCW)
	binary.LittleEndian.PutUint32(init[fxMXCSR:], 0x1f80)
	binary.LittleEndian.PutUint32(init[fxMXCSRMask:], 0x2ffff)
	return newXstateLayout(cpuid, 0xe7, 4096, init), init
}

// withTestFPU gives a fake process's machine the test XSAVE layout.
func withTestFPU(th *Thread) {
	m := th.proc.vm.m
	m.xstate, m.initFPU = testXstate()
}

func TestSigsetLowest(t *testing.T) {
	for _, tc := range []struct {
		set  sigset
		want int
	}{
		{0, 0},
		{sigmask(sigUSR1), sigUSR1},
		{sigmask(sigUSR1) | sigmask(sigINT), sigINT},
		{sigmask(sigUSR1) | sigmask(sigSEGV) | sigmask(sigINT), sigSEGV}, // synchronous first
		{sigmask(sigRTMIN + 3), sigRTMIN + 3},
		{sigmask(numSignals), numSignals},
	} {
		if got := tc.set.lowest(); got != tc.want {
			t.Errorf("%#x.lowest() = %d, want %d", uint64(tc.set), got, tc.want)
		}
	}
}

func TestSigpendingQueue(t *testing.T) {
	var q sigpending
	for i := 0; i < 3; i++ {
		if ok, _ := q.add(siginfo{signo: sigUSR1, pid: uint32(i)}); ok != (i == 0) {
			t.Errorf("standard signal %d queued: %v", i, ok)
		}
		if ok, _ := q.add(siginfo{signo: sigRTMIN, value: uint64(i)}); !ok {
			t.Errorf("real-time signal %d not queued", i)
		}
	}
	if q.set != sigmask(sigUSR1)|sigmask(sigRTMIN) {
		t.Errorf("set %#x", uint64(q.set))
	}
	for i := 0; i < 3; i++ {
		info := q.take(sigRTMIN)
		if info.value != uint64(i) {
			t.Errorf("real-time instance %d has value %d", i, info.value)
		}
		if still := q.set.has(sigRTMIN); still != (i < 2) {
			t.Errorf("after taking %d instances, pending %v", i+1, still)
		}
	}
	q.flush(sigmask(sigUSR1))
	if q.set != 0 || len(q.queue) != 0 {
		t.Errorf("after flush: %#x, %d queued", uint64(q.set), len(q.queue))
	}
	for i := 0; i < maxQueuedSignals; i++ {
		q.add(siginfo{signo: sigRTMIN})
	}
	if ok, full := q.add(siginfo{signo: sigRTMIN}); ok || !full {
		t.Errorf("queue beyond its limit: queued %v full %v", ok, full)
	}
}

func TestSigactionRoundTrip(t *testing.T) {
	a := sigaction{handler: 0x401000, flags: saSiginfo | saRestorer | saOnstack, restorer: 0x402000, mask: sigmask(sigINT)}
	if got := decodeSigaction(a.encode()); got != a {
		t.Errorf("round trip: %+v, want %+v", got, a)
	}
	for _, tc := range []struct {
		act          sigaction
		sig          int
		fatal, ignor bool
	}{
		{sigaction{}, sigTERM, true, false},
		{sigaction{}, sigSEGV, true, false},
		{sigaction{}, sigCHLD, false, true},
		{sigaction{}, sigURG, false, true},
		{sigaction{}, sigSTOP, false, true},
		{sigaction{}, sigKILL, true, false},
		{sigaction{handler: sigIGN}, sigTERM, false, true},
		{sigaction{handler: 0x401000}, sigTERM, false, false},
		{sigaction{}, sigRTMIN + 5, true, false},
	} {
		if f, i := tc.act.fatal(tc.sig), tc.act.ignores(tc.sig); f != tc.fatal || i != tc.ignor {
			t.Errorf("%s with handler %#x: fatal %v ignores %v, want %v %v", signalName(tc.sig), tc.act.handler, f, i, tc.fatal, tc.ignor)
		}
	}
}

func TestSiginfoEncode(t *testing.T) {
	le := binary.LittleEndian
	b := (&siginfo{signo: sigSEGV, code: segvMaperr, addr: 0xdead0}).encode()
	if le.Uint32(b[siOffSigno:]) != sigSEGV || int32(le.Uint32(b[siOffCode:])) != segvMaperr || le.Uint64(b[siOffAddr:]) != 0xdead0 {
		t.Errorf("fault siginfo % x", b[:32])
	}
	b = (&siginfo{signo: sigUSR1, code: siQueue, pid: 1000, uid: 7, value: 42}).encode()
	if le.Uint32(b[siOffPid:]) != 1000 || le.Uint32(b[siOffUID:]) != 7 || le.Uint64(b[siOffValue:]) != 42 {
		t.Errorf("queued siginfo % x", b[:32])
	}
	raw := make([]byte, siginfoSize)
	for i := range raw {
		raw[i] = byte(i)
	}
	in := decodeSiginfo(raw)
	in.signo = sigRTMIN
	out := in.encode()
	if le.Uint32(out) != sigRTMIN || !bytes.Equal(out[4:], raw[4:]) {
		t.Errorf("a guest's siginfo is not kept whole")
	}
}

func TestSignalNames(t *testing.T) {
	for sig, want := range map[int]string{sigSEGV: "SIGSEGV", sigRTMIN: "SIGRTMIN", sigRTMIN + 2: "SIGRTMIN+2", 99: "signal 99"} {
		if got := signalName(sig); got != want {
			t.Errorf("signalName(%d) = %q, want %q", sig, got, want)
		}
	}
}

func TestAltStack(t *testing.T) {
	s := sigaltstack{sp: 0x10000, size: 0x4000}
	for _, tc := range []struct {
		sp    uint64
		flags uint32
	}{
		{0x10000, 0}, // the bottom is below the stack
		{0x10001, ssOnstack},
		{0x14000, ssOnstack}, // the top is on it
		{0x14001, 0},
	} {
		if got := s.flagsAt(tc.sp); got != tc.flags {
			t.Errorf("flagsAt(%#x) = %d, want %d", tc.sp, got, tc.flags)
		}
	}
	if got := (sigaltstack{}).report(0x12000); got.flags != ssDisable {
		t.Errorf("no stack reports flags %d", got.flags)
	}
	auto := sigaltstack{sp: 0x10000, size: 0x4000, flags: ssAutodisarm}
	if auto.onStack(0x12000) || auto.report(0x12000).flags != ssAutodisarm {
		t.Errorf("SS_AUTODISARM stack counts as in use: %+v", auto.report(0x12000))
	}
	for _, tc := range []struct {
		cur, ss sigaltstack
		sp      uint64
		want    sigaltstack
		err     error
	}{
		{sigaltstack{}, sigaltstack{sp: 0x1000, size: minSigStkSz}, 0, sigaltstack{sp: 0x1000, size: minSigStkSz}, nil},
		{sigaltstack{}, sigaltstack{sp: 0x1000, size: minSigStkSz - 1}, 0, sigaltstack{}, unix.ENOMEM},
		{sigaltstack{}, sigaltstack{sp: 0x1000, size: 1 << 20, flags: 7}, 0, sigaltstack{}, unix.EINVAL},
		{s, sigaltstack{flags: ssDisable}, 0x12000, s, unix.EPERM},
		{s, sigaltstack{sp: 5, size: 6, flags: ssDisable | ssAutodisarm}, 0x20000, sigaltstack{flags: ssDisable}, nil},
	} {
		got, err := setAltStack(tc.cur, tc.ss, tc.sp)
		if got != tc.want || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("setAltStack(%+v, %+v, %#x) = %+v, %v; want %+v, %v", tc.cur, tc.ss, tc.sp, got, err, tc.want, tc.err)
		}
	}
}

func TestRestartClass(t *testing.T) {
	for _, tc := range []struct {
		nr   uint64
		regs kvm.Regs
		want unix.Errno
	}{
		{sysRead, kvm.Regs{}, errnoRestartSys},
		{sysFutex, kvm.Regs{}, errnoRestartSys},
		{sysFutex, kvm.Regs{R10: 0x1000}, errnoRestartNohand},
		{sysNanosleep, kvm.Regs{}, errnoRestartBlock},
		{sysClockNanosleep, kvm.Regs{RSI: timerAbstime}, errnoRestartNohand},
		{sysClockNanosleep, kvm.Regs{}, errnoRestartBlock},
		{sysEpollPwait, kvm.Regs{}, unix.EINTR},
		{sysEpollWait, kvm.Regs{}, unix.EINTR},
		{sysPoll, kvm.Regs{}, errnoRestartBlock},
		{sysSelect, kvm.Regs{}, errnoRestartNohand},
		{sysPpoll, kvm.Regs{}, errnoRestartNohand},
		{sysPselect6, kvm.Regs{}, errnoRestartNohand},
		{sysRtSigsuspend, kvm.Regs{}, errnoRestartNohand},
		{sysRtSigtimedwait, kvm.Regs{}, unix.EINTR},
		{sysGetpid, kvm.Regs{}, unix.EINTR},
	} {
		if got := restartClass(tc.nr, &tc.regs); got != tc.want {
			t.Errorf("restartClass(%s) = %d, want %d", syscallName(int(tc.nr)), got, tc.want)
		}
	}
}

// TestSyscallRestart drives handleSignals on an interrupted system call:
// without a handler it restarts, with one it returns EINTR or restarts
// per SA_RESTART.
func TestSyscallRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nr      uint64
		flags   uint64
		handler bool
		wantRAX uint64
		wantRIP uint64
	}{
		{"read without handler restarts", sysRead, 0, false, sysRead, 0x1000 - 2},
		{"read with handler: EINTR", sysRead, 0, true, errnoReturn(unix.EINTR), 0},
		{"read with SA_RESTART restarts", sysRead, saRestart, true, sysRead, 0},
		{"nanosleep without handler: restart_syscall", sysNanosleep, 0, false, sysRestartSyscall, 0x1000 - 2},
		{"nanosleep with SA_RESTART: EINTR", sysNanosleep, saRestart, true, errnoReturn(unix.EINTR), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th, base := newFakeProcess(t)
			withTestFPU(th)
			th.ctx.regs = kvm.Regs{RIP: 0x1000, RSP: base + 8*pageSize, RAX: errnoReturn(unix.EINTR), RFLAGS: userRflags}
			th.sig.inSyscall, th.sig.sysNr, th.sig.waited = true, tc.nr, true
			if tc.handler {
				th.proc.sig.actions[sigUSR1-1] = sigaction{handler: 0x401000, flags: saRestorer | tc.flags, restorer: 0x402000}
				th.proc.sendSignal(siginfo{signo: sigUSR1, code: siTkill}, th, nil)
			}
			if !th.needSignalWork() {
				t.Fatal("an interrupted wait does not count as work for signal delivery")
			}
			r := th.handleSignals(nil)
			if r.fatal != 0 {
				t.Fatalf("fatal %d: %s", r.fatal, r.why)
			}
			if !tc.handler {
				if th.ctx.regs.RAX != tc.wantRAX || th.ctx.regs.RIP != tc.wantRIP {
					t.Errorf("rax %#x rip %#x, want %#x %#x", th.ctx.regs.RAX, th.ctx.regs.RIP, tc.wantRAX, tc.wantRIP)
				}
				return
			}
			// The frame records the resolved call; the handler runs.
			if th.ctx.regs.RIP != 0x401000 {
				t.Fatalf("handler not entered: rip %#x", th.ctx.regs.RIP)
			}
			var b [frSize]byte
			if err := th.proc.mm.CopyIn(th.ctx.regs.RSP, b[:]); err != nil {
				t.Fatal(err)
			}
			f := decodeSigFrame(b[:])
			wantRIP := uint64(0x1000)
			if tc.wantRAX == tc.nr {
				wantRIP -= 2
			}
			if f.regs.RAX != tc.wantRAX || f.regs.RIP != wantRIP {
				t.Errorf("frame rax %#x rip %#x, want %#x %#x", f.regs.RAX, f.regs.RIP, tc.wantRAX, wantRIP)
			}
		})
	}
}

func TestFaultSiginfo(t *testing.T) {
	fpu := make([]byte, fxsaveSize)
	le := binary.LittleEndian
	for _, tc := range []struct {
		vector int
		mapped bool
		setup  func()
		signo  int32
		code   int32
		addr   uint64
	}{
		{vecPF, false, nil, sigSEGV, segvMaperr, 0xcafe},
		{vecPF, true, nil, sigSEGV, segvAccerr, 0xcafe},
		{vecGP, false, nil, sigSEGV, siKernel, 0},
		{vecUD, false, nil, sigILL, illIllopn, 0x400100},
		{vecDE, false, nil, sigFPE, fpeIntdiv, 0x400100},
		{vecBP, false, nil, sigTRAP, siKernel, 0},
		{vecAC, false, nil, sigBUS, busAdraln, 0},
		{vecXM, false, func() { le.PutUint32(fpu[fxMXCSR:], 0x1f80&^(1<<9)|1<<2) }, sigFPE, fpeFltdiv, 0x400100},
		{vecXM, false, func() { le.PutUint32(fpu[fxMXCSR:], 0x1f80|1<<2) }, 0, 0, 0x400100}, // masked: spurious
		{vecMF, false, func() { le.PutUint16(fpu[fxFCW:], 0x37e); le.PutUint16(fpu[fxFSW:], 1) }, sigFPE, fpeFltinv, 0x400100},
	} {
		if tc.setup != nil {
			tc.setup()
		}
		si := faultSiginfo(tc.vector, 0x400100, 0xcafe, tc.mapped, fpu)
		if si.signo != tc.signo || (tc.signo != 0 && (si.code != tc.code || si.addr != tc.addr)) {
			t.Errorf("%s: %+v, want signal %d code %d addr %#x", vectorName(tc.vector), si, tc.signo, tc.code, tc.addr)
		}
	}
}

// TestSignalSyscalls checks the argument rules of the sending, action
// and mask system calls against Linux's, without KVM.
func TestSignalSyscalls(t *testing.T) {
	th, base := newFakeProcess(t)
	p := th.proc
	pid := uint64(p.pid)
	for _, tc := range []struct {
		name string
		nr   int
		args SyscallArgs
		err  error
	}{
		{"kill self 0", sysKill, SyscallArgs{pid, 0}, nil},
		{"kill group 0", sysKill, SyscallArgs{uint64(-int64(pid)), 0}, nil},
		{"kill other", sysKill, SyscallArgs{12345, 0}, unix.ESRCH},
		{"kill parent", sysKill, SyscallArgs{guestPPID, sigTERM}, unix.EPERM},
		{"kill everyone", sysKill, SyscallArgs{^uint64(0), sigTERM}, unix.ESRCH},
		{"kill bad signal", sysKill, SyscallArgs{pid, 65}, unix.EINVAL},
		{"tgkill no thread", sysTgkill, SyscallArgs{pid, 99999, 0}, unix.ESRCH},
		{"tgkill other group", sysTgkill, SyscallArgs{pid + 1, uint64(th.tid), 0}, unix.ESRCH},
		{"tgkill zero tgid", sysTgkill, SyscallArgs{0, uint64(th.tid), 0}, unix.EINVAL},
		{"tkill bad signal", sysTkill, SyscallArgs{uint64(th.tid), 65}, unix.EINVAL},
		{"tkill self 0", sysTkill, SyscallArgs{uint64(th.tid), 0}, nil},
		{"sigaction SIGKILL", sysRtSigaction, SyscallArgs{sigKILL, base, 0, 8}, unix.EINVAL},
		{"sigaction read SIGKILL", sysRtSigaction, SyscallArgs{sigKILL, 0, base, 8}, nil},
		{"sigaction signal 0", sysRtSigaction, SyscallArgs{0, 0, base, 8}, unix.EINVAL},
		{"sigaction sigset size", sysRtSigaction, SyscallArgs{sigUSR1, 0, base, 16}, unix.EINVAL},
		{"sigprocmask bad how", sysRtSigprocmask, SyscallArgs{7, base, 0, 8}, unix.EINVAL},
		{"sigprocmask bad how, no set", sysRtSigprocmask, SyscallArgs{7, 0, base, 8}, nil},
		{"sigpending big size", sysRtSigpending, SyscallArgs{base, 9}, unix.EINVAL},
		{"sigpending small size", sysRtSigpending, SyscallArgs{base, 4}, nil},
		{"sigsuspend size", sysRtSigsuspend, SyscallArgs{base, 4}, unix.EINVAL},
		{"sigtimedwait size", sysRtSigtimedwait, SyscallArgs{base, 0, 0, 4}, unix.EINVAL},
		{"sigqueueinfo other", sysRtSigqueueinfo, SyscallArgs{pid + 5, sigUSR1, base}, unix.ESRCH},
		{"sigqueueinfo bad signal", sysRtSigqueueinfo, SyscallArgs{pid, 0, base}, unix.EINVAL},
		{"sigaltstack fault", sysSigaltstack, SyscallArgs{8, 0}, unix.EFAULT},
		{"restart_syscall with nothing to restart", sysRestartSyscall, SyscallArgs{}, unix.EINTR},
		{"setitimer prof, disarmed", sysSetitimer, SyscallArgs{itimerProf, base, 0}, nil},
		{"setitimer bad", sysSetitimer, SyscallArgs{7, base, 0}, unix.EINVAL},
	} {
		_, err := th.dispatchSyscall(uint64(tc.nr), tc.args)
		if !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}

	// Unknown flags read back as zero; SIGKILL/SIGSTOP leave the mask.
	act := sigaction{handler: 0x401000, flags: saSiginfo | saRestorer | saUnsupported | 1<<20, restorer: 0x402000,
		mask: sigmask(sigKILL) | sigmask(sigUSR2)}
	th.proc.mm.CopyOut(base, act.encode())
	if _, err := th.dispatchSyscall(sysRtSigaction, SyscallArgs{sigUSR1, base, base + 64, 8}); err != nil {
		t.Fatal(err)
	}
	th.dispatchSyscall(sysRtSigaction, SyscallArgs{sigUSR1, 0, base + 64, 8})
	var b [sigactionSize]byte
	th.proc.mm.CopyIn(base+64, b[:])
	if got := decodeSigaction(b[:]); got.flags != saSiginfo|saRestorer || got.mask != sigmask(sigUSR2) {
		t.Errorf("stored action %+v", got)
	}

	// rt_sigqueueinfo keeps the guest's siginfo; rt_sigpending sees it
	// while blocked.
	th.sig.mask = sigmask(sigRTMIN)
	si := siginfo{signo: sigRTMIN, code: siQueue, pid: 77, value: 0xabc}
	th.proc.mm.CopyOut(base, si.encode())
	if _, err := th.dispatchSyscall(sysRtTgsigqueueinfo, SyscallArgs{pid, uint64(th.tid), sigRTMIN, base}); err != nil {
		t.Fatal(err)
	}
	th.dispatchSyscall(sysRtSigpending, SyscallArgs{base + 256, 8})
	if v, _ := th.proc.mm.ReadUint64(base + 256); v != uint64(sigmask(sigRTMIN)) {
		t.Errorf("pending %#x", v)
	}
	if sig, err := th.takeSignal(sigmask(sigRTMIN), base+512); sig != sigRTMIN || err != nil {
		t.Fatalf("takeSignal: %d %v", sig, err)
	}
	var raw [siginfoSize]byte
	th.proc.mm.CopyIn(base+512, raw[:])
	if got := decodeSiginfo(raw[:]); got.pid != 77 || got.value != 0xabc || got.code != siQueue {
		t.Errorf("queued siginfo %+v", got)
	}
}

// TestSignalTargets: a process-directed signal goes to a thread that
// does not block it; SIG_IGN discards pending instances; a thread that
// exits passes on a process-directed signal it could have taken.
func TestSignalTargets(t *testing.T) {
	t1, _ := newFakeProcess(t)
	p := t1.proc
	t2 := p.newThread(threadContext{})
	p.sig.actions[sigUSR1-1] = sigaction{handler: 0x401000, flags: saRestorer}
	t1.sig.mask = sigmask(sigUSR1)
	woken := map[*Thread]int{}
	for _, th := range []*Thread{t1, t2} {
		th := th
		th.cancel = func() { woken[th]++ }
	}
	p.sendSignal(siginfo{signo: sigUSR1, code: siUser}, nil, t1)
	if woken[t2] != 1 || woken[t1] != 0 {
		t.Errorf("woken %v: want only the thread that does not block it", woken)
	}
	if t2.deliverable() != sigmask(sigUSR1) || t1.deliverable() != 0 {
		t.Errorf("deliverable t1 %#x t2 %#x", uint64(t1.deliverable()), uint64(t2.deliverable()))
	}
	// t2 exits before taking it: t1, once it unblocks, must hear of it.
	t1.sig.mask = 0
	t2.sig.pending.add(siginfo{signo: sigUSR2})
	t2.exitSignals()
	p.threadExited(t2, ExitStatus{})
	if woken[t1] != 1 || t2.sig.pending.set != 0 {
		t.Errorf("after exit: woken %v, t2 pending %#x", woken, uint64(t2.sig.pending.set))
	}
	if info, _, ok := t1.nextSignal(); !ok || info.signo != sigUSR1 {
		t.Errorf("t1 takes %+v %v", info, ok)
	}
	// Setting SIG_IGN discards what is pending, blocked or not.
	t1.sig.mask = sigmask(sigUSR2)
	p.sendSignal(siginfo{signo: sigUSR2}, t1, nil)
	p.setAction(sigUSR2, sigaction{handler: sigIGN}, true)
	if t1.sig.pending.set != 0 {
		t.Errorf("SIG_IGN left %#x pending", uint64(t1.sig.pending.set))
	}
	// An ignored, unblocked signal is not even queued.
	t1.sig.mask = 0
	p.sendSignal(siginfo{signo: sigUSR2}, t1, nil)
	p.sendSignal(siginfo{signo: sigCHLD}, nil, nil)
	if t1.deliverable() != 0 {
		t.Errorf("ignored signals queued: %#x", uint64(t1.deliverable()))
	}
	// A fatal default action ends the process at once: SIGPIPE, as a
	// write to a pipe without readers sends it.
	t1.signalSelf(sigPIPE)
	if st, _ := p.result(); !p.exiting.Load() || st.Int() != 128+sigPIPE {
		t.Errorf("SIGPIPE: exiting %v status %v", p.exiting.Load(), st)
	}
}
