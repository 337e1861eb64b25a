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
		{sysEpollPwait, kvm.Regs{}, errnoRestartNohand},
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
