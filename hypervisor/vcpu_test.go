package hypervisor

import (
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// TestUserRegsSafePoints checks which VCPU states are safe points where a
// thread's context may move, including the hardware-KVM return path
// through the syscall stub at CPL 0, which cannot be exercised on PVM.
func TestUserRegsSafePoints(t *testing.T) {
	user := kvm.Regs{RIP: 0x401000, RCX: 0x401000, R11: 0x246}
	atStub := kvm.Regs{RIP: syscallStubGVA, RAX: 42, RCX: 0x401234, R11: 0x10246}
	atSysret := atStub
	atSysret.RIP = syscallStubGVA + syscallStubOutLen
	inExcStub := kvm.Regs{RIP: excStubGVA + 14*excStubSize + 2}
	for _, tc := range []struct {
		name    string
		regs    kvm.Regs
		cpl     uint16
		pending bool
		safe    bool
		rip     uint64
	}{
		{"user code", user, 3, false, true, 0x401000},
		{"PVM: in the syscall stub", atStub, 3, false, false, 0},
		{"hardware: sysretq next", atSysret, 0, false, true, 0x401234},
		{"hardware: out not yet completed after a system call", atStub, 0, true, true, 0x401234},
		{"hardware: entered the stub, system call not handled", atStub, 0, false, false, 0},
		{"exception stub", inExcStub, 0, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &vcpu{run: &kvm.Run{}, sysretPending: tc.pending}
			v.run.Sync.Regs = tc.regs
			v.run.Sync.Sregs.CS.Selector = selUserCS&^3 | tc.cpl
			got, ok := v.userRegs()
			if ok != tc.safe {
				t.Fatalf("safe = %v, want %v", ok, tc.safe)
			}
			if ok && got.RIP != tc.rip {
				t.Errorf("RIP = %#x, want %#x", got.RIP, tc.rip)
			}
			if ok && tc.cpl == 0 && (got.RAX != 42 || got.RFLAGS != 0x10246&0x3c7fd7|rflagsReserved|rflagsIF) {
				t.Errorf("sysret emulation: RAX %d RFLAGS %#x", got.RAX, got.RFLAGS)
			}
		})
	}
}
