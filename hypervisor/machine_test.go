package hypervisor

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
)

func newTestMachine(t testing.TB, nvcpus int) *machine {
	t.Helper()
	testutil.MustHaveKVM(t)
	m, err := newMachine(nvcpus, 1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.close() })
	return m
}

// loadRawCode maps code at 0x400000 and a stack, and points VCPU v at it.
func loadRawCode(t testing.TB, m *machine, v *kvm.VCPU, code []byte) {
	t.Helper()
	const codeAt, stackAt = 0x400000, 0x500000
	if _, err := m.mm.Mmap(mmapRequest{addr: codeAt, length: pageSize, prot: unix.PROT_READ | unix.PROT_EXEC, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}); err != nil {
		t.Fatal(err)
	}
	if err := m.mm.poke(codeAt, code); err != nil {
		t.Fatal(err)
	}
	if _, err := m.mm.Mmap(mmapRequest{addr: stackAt, length: 4 * pageSize, prot: rw, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}); err != nil {
		t.Fatal(err)
	}
	r := v.RunData()
	r.Sync.Regs = kvm.Regs{RIP: codeAt, RSP: stackAt + 4*pageSize, RFLAGS: userRflags}
	r.DirtyRegs = kvm.SyncRegsGPR
}

// runUntilExit runs v until an exit other than EINTR.
func runUntilExit(t testing.TB, v *kvm.VCPU) kvm.Exit {
	t.Helper()
	for {
		err := v.Run()
		if err == kvm.ErrInterrupted {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		r := v.RunData()
		return kvm.DecodeExit(kvm.ExitReason(r.ExitReason), &r.ExitData)
	}
}

func TestRawSyscallAndFault(t *testing.T) {
	m := newTestMachine(t, 1)
	v := m.vcpus[0]
	t.Logf("host %v: %s; xsave %d bytes (xsave2 %v), xcr0 %#x, cr4 %#x", m.host.Kind, m.host.Reason, m.xsaveSize, m.xsave2, m.xcr0, m.cr4)
	code := []byte{
		0xb8, 0x27, 0x00, 0x00, 0x00, // mov $39, %eax (getpid)
		0x0f, 0x05, // syscall
		0x48, 0x89, 0xc3, // mov %rax, %rbx
		0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, // mov 0x8, %rax (NULL page)
	}
	loadRawCode(t, m, v, code)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	e := runUntilExit(t, v)
	if e.Reason != kvm.ExitIO || e.IO.Port != portSyscall || e.IO.Direction != kvm.IODirOut {
		t.Fatalf("first exit = %+v, want an out to the syscall port", e)
	}
	r := v.RunData()
	regs, sregs := r.Sync.Regs, r.Sync.Sregs
	if regs.RAX != 39 || regs.RCX != 0x400007 || regs.R11&rflagsIF == 0 {
		t.Errorf("at the syscall exit RAX=%d RCX=%#x R11=%#x", regs.RAX, regs.RCX, regs.R11)
	}
	t.Logf("syscall stub ran at CPL %d (CS %#x), RIP %#x", sregs.CS.Selector&3, sregs.CS.Selector, regs.RIP)
	// Return 1234 to the guest, the way the VMM does.
	regs.RAX = 1234
	if sregs.CS.Selector&3 != 0 {
		regs.RIP, regs.RFLAGS = regs.RCX, regs.R11
	}
	r.Sync.Regs = regs
	r.DirtyRegs = kvm.SyncRegsGPR

	e = runUntilExit(t, v)
	if e.Reason != kvm.ExitIO || e.IO.Port != portException {
		t.Fatalf("second exit = %+v, want an out to the exception port", e)
	}
	regs, sregs = r.Sync.Regs, r.Sync.Sregs
	if regs.RBX != 1234 {
		t.Errorf("guest saw syscall result %d, want 1234", regs.RBX)
	}
	ist1, _ := stackTops(0)
	frame, err := m.mm.hostBytes(ist1-excFrameSize, excFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	vec, errc, rip, cs := le.Uint64(frame[0:]), le.Uint64(frame[8:]), le.Uint64(frame[16:]), le.Uint64(frame[24:])
	if vec != vecPF || rip != 0x40000a || cs != selUserCS || sregs.CR2 != 8 {
		t.Errorf("exception frame vector %d error %#x RIP %#x CS %#x, CR2 %#x; want #PF at 0x40000a from CS 0x33, CR2 8", vec, errc, rip, cs, sregs.CR2)
	}
	if errc&4 == 0 || errc&1 != 0 {
		t.Errorf("page-fault error code %#x, want a user-mode not-present fault", errc)
	}
}
