package kvm

import (
	"errors"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }

func openVCPU(t *testing.T) (*System, *VM, *VCPU) {
	t.Helper()
	testutil.MustHaveKVM(t)
	sys, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	v, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return sys, vm, v
}

func TestCapabilities(t *testing.T) {
	sys, _, _ := openVCPU(t)
	for _, c := range []Cap{CapUserMemory, CapSyncRegs, CapImmediateExit, CapXSave, CapXCRs} {
		v, err := sys.CheckExtension(c)
		if err != nil {
			t.Fatalf("CheckExtension(%d): %v", c, err)
		}
		if v == 0 {
			t.Errorf("capability %d missing; the VMM needs it", c)
		}
	}
	if v, _ := sys.CheckExtension(CapSyncRegs); v&(SyncRegsGPR|SyncRegsSregs) != SyncRegsGPR|SyncRegsSregs {
		t.Errorf("KVM_CAP_SYNC_REGS = %#x, want regs and sregs", v)
	}
	n, err := sys.VCPUMmapSize()
	if err != nil || n < 4096 {
		t.Errorf("VCPUMmapSize = %d, %v", n, err)
	}
	ents, err := sys.SupportedCPUID()
	if err != nil || len(ents) == 0 {
		t.Fatalf("SupportedCPUID = %d entries, %v", len(ents), err)
	}
}

func TestRegsRoundTrip(t *testing.T) {
	_, _, v := openVCPU(t)
	r, err := v.Regs()
	if err != nil {
		t.Fatal(err)
	}
	r.RAX, r.R15, r.RIP = 0x1122334455667788, 42, 0x1000
	if err := v.SetRegs(&r); err != nil {
		t.Fatal(err)
	}
	got, err := v.Regs()
	if err != nil {
		t.Fatal(err)
	}
	if got.RAX != r.RAX || got.R15 != 42 || got.RIP != 0x1000 {
		t.Errorf("regs after set = %+v", got)
	}
	s, err := v.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	if s.CS.Selector != 0xf000 {
		t.Errorf("reset CS selector = %#x, want 0xf000", s.CS.Selector)
	}
	if err := v.SetSregs(&s); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, XSaveLegacySize)
	if err := v.XSave(buf, false); err != nil {
		t.Fatal(err)
	}
	if err := v.SetXSave(buf); err != nil {
		t.Fatal(err)
	}
	if err := v.XSave(buf[:100], false); err == nil {
		t.Error("XSave into a 100-byte buffer succeeded")
	}
	if _, err := v.Events(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.XCRs(); err != nil {
		t.Fatal(err)
	}
}

func TestMSRs(t *testing.T) {
	_, _, v := openVCPU(t)
	const lstar = 0xc0000082
	if err := v.SetMSRs(MSREntry{Index: lstar, Data: 0x7fff80007000}); err != nil {
		t.Fatal(err)
	}
	got, err := v.MSRs(lstar)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Data != 0x7fff80007000 {
		t.Errorf("LSTAR = %#x", got[0].Data)
	}
	_, err = v.MSRs(0xdeadbeef)
	var ie *IoctlError
	if !errors.As(err, &ie) || ie.Op != "KVM_GET_MSRS" {
		t.Errorf("reading a bogus MSR: err = %v, want an IoctlError for KVM_GET_MSRS", err)
	}
}

func TestDetectHost(t *testing.T) {
	_, _, v := openVCPU(t)
	h := DetectHost(v)
	if h.Kind == HostUnknown {
		t.Errorf("host kind unknown: %s", h.Reason)
	}
	t.Logf("host: %v (%s)", h.Kind, h.Reason)
}
