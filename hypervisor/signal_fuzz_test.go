package hypervisor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/testutil"
)

// sigsegvPending reports whether SIGSEGV waits in t's own queue.
func sigsegvPending(t *Thread) bool {
	s := &t.proc.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.sig.pending.set.has(sigSEGV)
}

// checkUserContext fails if t's context is one the VCPU could not enter
// or that escapes user mode.
func checkUserContext(t *testing.T, th *Thread) {
	t.Helper()
	r := th.ctx.regs
	if !canonical(r.RIP) || !canonical(r.RSP) {
		t.Fatalf("non-canonical rip %#x / rsp %#x accepted", r.RIP, r.RSP)
	}
	if r.RFLAGS&(rflagsIF|rflagsReserved) != rflagsIF|rflagsReserved || r.RFLAGS&(rflagsIOPL|rflagsNT|rflagsVM|rflagsVIF|rflagsVIP) != 0 {
		t.Fatalf("rflags %#x", r.RFLAGS)
	}
	if th.ctx.fpu != nil {
		lay := &th.proc.vm.m.xstate
		if !validKVMXsave(lay, th.ctx.fpu) {
			t.Fatalf("FPU image KVM would refuse: header % x mxcsr %#x", th.ctx.fpu[xsaveHeaderOff:xsaveHeaderOff+24],
				binary.LittleEndian.Uint32(th.ctx.fpu[fxMXCSR:]))
		}
	}
}

// Flags the VMM must never let a guest set.
const (
	rflagsVM  = 1 << 17
	rflagsVIF = 1 << 19
	rflagsVIP = 1 << 20
)

// FuzzSigreturn hands rt_sigreturn arbitrary frames: the VMM must not
// panic, and either restore a context a VCPU can run (canonical RIP and
// RSP, user RFLAGS, an XSAVE image KVM accepts) or give the thread
// SIGSEGV.
func FuzzSigreturn(f *testing.F) {
	lay, init := testXstate()
	good := make([]byte, frSize+16+lay.frameSize()+64)
	spec := sigFrameSpec{regs: kvm.Regs{RIP: 0x401000, RSP: 0x7fff0000, RFLAGS: 0x246}, ucFlags: lay.ucFlags(), fp: lay.toFrame(init)}
	copy(good, buildSigFrame(&spec, 0, frSize+24))
	f.Add(good, uint16(8), true)
	f.Add(good[:frSize], uint16(8), false)
	f.Add([]byte{}, uint16(0), false)
	f.Add(make([]byte, 4096), uint16(0xffff), true)
	f.Fuzz(func(t *testing.T, mem []byte, rspOff uint16, fixFP bool) {
		th, base := newFakeProcess(t)
		withTestFPU(th)
		if len(mem) > 8*pageSize {
			mem = mem[:8*pageSize]
		}
		th.proc.mm.CopyOut(base, mem)
		// The frame starts at RSP-8; RSP may point past the mapping.
		th.ctx.regs = kvm.Regs{RSP: base + uint64(rspOff), RFLAGS: userRflags, RIP: 0x401000}
		if fixFP {
			// Point the frame's fpstate at a 64-aligned place after it.
			fp := (base + uint64(rspOff) - 8 + frSize + 63) &^ 63
			th.proc.mm.WriteUint64(base+uint64(rspOff)-8+frUC+ucMcontext+scFpstate, fp)
		}
		before := th.ctx.regs
		if _, err := th.dispatchSyscall(sysRtSigreturn, SyscallArgs{}); err != nil {
			t.Fatalf("rt_sigreturn: %v", err)
		}
		if sigsegvPending(th) {
			if th.ctx.regs.RIP != before.RIP {
				t.Fatalf("bad frame moved rip to %#x", th.ctx.regs.RIP)
			}
			return
		}
		checkUserContext(t, th)
	})
}

// FuzzSignalDelivery delivers a handled signal at arbitrary stack
// pointers, alternate stacks and action flags: the VMM must not panic,
// and either build a frame inside writable memory with RSP % 16 == 8 at
// the handler, or end in SIGSEGV.
func FuzzSignalDelivery(f *testing.F) {
	f.Add(uint64(8*pageSize), uint64(0), uint64(0), uint32(0), uint64(saSiginfo|saRestorer))
	f.Add(uint64(15*pageSize+77), uint64(2*pageSize), uint64(4*pageSize), uint32(0), uint64(saSiginfo|saRestorer|saOnstack))
	f.Add(uint64(1<<63), uint64(0), uint64(0), uint32(0), uint64(saRestorer))
	f.Add(uint64(100), uint64(0), uint64(1<<40), uint32(ssAutodisarm), uint64(saRestorer|saOnstack))
	f.Fuzz(func(t *testing.T, rsp, altOff, altSize uint64, altFlags uint32, flags uint64) {
		th, base := newFakeProcess(t)
		withTestFPU(th)
		if rsp < 32*pageSize {
			rsp += base
		}
		th.ctx.regs = kvm.Regs{RSP: rsp, RIP: 0x401000, RFLAGS: userRflags}
		th.sig.alt = sigaltstack{sp: base + altOff, size: altSize, flags: altFlags}
		act := sigaction{handler: 0x402000, flags: flags & saKnown, restorer: 0x403000}
		th.proc.sig.actions[sigUSR1-1] = act
		th.proc.sendSignal(siginfo{signo: sigUSR1, code: siTkill}, th, nil)
		r := th.handleSignals(nil)
		if r.fatal != 0 {
			if r.fatal != sigSEGV {
				t.Fatalf("fatal %d", r.fatal)
			}
			return
		}
		if th.ctx.regs.RIP != act.handler {
			t.Fatalf("no handler and no SIGSEGV: rip %#x", th.ctx.regs.RIP)
		}
		frame := th.ctx.regs.RSP
		if frame%16 != 8 {
			t.Fatalf("handler rsp %#x", frame)
		}
		var b [frSize]byte
		if err := th.proc.mm.CopyIn(frame, b[:]); err != nil {
			t.Fatalf("frame at %#x not in memory: %v", frame, err)
		}
		fr := decodeSigFrame(b[:])
		if fr.regs.RSP != rsp || fr.regs.RIP != 0x401000 || binary.LittleEndian.Uint64(b[:]) != act.restorer {
			t.Fatalf("frame %+v", fr)
		}
		checkUserContext(t, th)
	})
}

// FuzzSignalFramesVM runs testdata/sigfuzz.c in a real VM on fuzzed
// input: rt_sigreturn on arbitrary frames, and signal delivery at
// arbitrary stack pointers and alternate stacks. The guest may die of
// any signal; the VMM must never fail (no CrashInternal or
// CrashShutdown, which would mean it let KVM see a state it cannot run).
func FuzzSignalFramesVM(f *testing.F) {
	prog := buildC(f, "sigfuzz")
	lay, init := testXstate()
	spec := sigFrameSpec{regs: kvm.Regs{RIP: 0x1000, RSP: 0x7fff0000, RFLAGS: 0x246}, ucFlags: lay.ucFlags(), fp: lay.toFrame(init)}
	frame := buildSigFrame(&spec, 0, (frSize+63)&^63)
	frame[0] |= 1 // let the guest point fpstate at its copy of the FPU area
	f.Add(false, frame)
	f.Add(false, frame[:frSize])
	f.Add(false, []byte{1})
	words := func(v ...uint64) []byte {
		b := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], x)
		}
		return b
	}
	f.Add(true, words(8192, 0, 0, 0, 0))
	f.Add(true, words(8192, 0, 8192, 0, saOnstack))
	f.Add(true, words(16000, 4096, 4096, ssAutodisarm, saOnstack|saSiginfo))
	f.Add(true, words(1<<47-8, 0, 0, 0, 0))
	f.Add(true, words(0x8000_0000_0000_0000, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, deliver bool, in []byte) {
		mode := "sigreturn"
		if deliver {
			mode = "deliver"
		}
		testutil.MustHaveKVM(t)
		vm, err := New(Config{Stdin: bytes.NewReader(in)})
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := vm.Run(ctx, prog, []string{prog, mode})
		var c *GuestCrash
		if err != nil && (!errors.As(err, &c) || c.Kind != CrashFault) {
			t.Fatalf("%s: the VMM failed: %v (status %v)", mode, err, st)
		}
		t.Logf("%s: %v %v", mode, st, err)
	})
}
