package hypervisor

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// machine is the KVM side of a VM: the KVM fds, the guest address space
// with the VMM area installed, and the VCPUs set up to enter guest ring 3.
// It knows nothing about programs, threads or system calls.
type machine struct {
	sys  *kvm.System
	vm   *kvm.VM
	mm   *MM
	host kvm.HostInfo

	cpuid []kvm.CPUIDEntry
	// xcr0 is the XCR0 every VCPU gets (the host's, as KVM supports it).
	xcr0 uint64
	// cr4 is the CR4 every VCPU gets.
	cr4 uint64
	// xsaveSize is the FPU-state buffer size; xsave2 says whether
	// KVM_GET_XSAVE2 is available.
	xsaveSize int
	xsave2    bool
	// initFPU is the FPU state of a VCPU after reset, which a new
	// process starts with.
	initFPU []byte
	// xstate is the layout of FPU images, for signal frames.
	xstate xstateLayout

	vcpus []*kvm.VCPU
}

// newMachine creates a VM with nvcpus VCPUs, physSize bytes of
// guest-physical address space and a cap of limit committed bytes.
func newMachine(nvcpus int, physSize, limit uint64) (_ *machine, err error) {
	if nvcpus < 1 || nvcpus > MaxVCPUs {
		return nil, fmt.Errorf("%d VCPUs: want 1 to %d", nvcpus, MaxVCPUs)
	}
	m := &machine{}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if m.sys, err = kvm.Open(); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		cap  kvm.Cap
		name string
	}{
		{kvm.CapUserMemory, "KVM_CAP_USER_MEMORY"},
		{kvm.CapSyncRegs, "KVM_CAP_SYNC_REGS"},
		{kvm.CapImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"},
		{kvm.CapXSave, "KVM_CAP_XSAVE"},
		{kvm.CapXCRs, "KVM_CAP_XCRS"},
		{kvm.CapExtCPUID, "KVM_CAP_EXT_CPUID"},
	} {
		if v, err := m.sys.CheckExtension(c.cap); err != nil || v == 0 {
			return nil, fmt.Errorf("%w: %s missing", ErrKVMUnsupported, c.name)
		}
	}
	if v, _ := m.sys.CheckExtension(kvm.CapSyncRegs); v&(kvm.SyncRegsGPR|kvm.SyncRegsSregs) != kvm.SyncRegsGPR|kvm.SyncRegsSregs {
		return nil, fmt.Errorf("%w: KVM_CAP_SYNC_REGS = %#x lacks regs or sregs", ErrKVMUnsupported, v)
	}
	if m.cpuid, err = m.sys.SupportedCPUID(); err != nil {
		return nil, err
	}
	m.xcr0, m.cr4 = guestXCR0(m.cpuid), guestCR4(m.cpuid)
	if m.vm, err = m.sys.CreateVM(); err != nil {
		return nil, err
	}
	m.xsaveSize = kvm.XSaveLegacySize
	if n, err := m.vm.CheckExtension(kvm.CapXSave2); err == nil && n >= kvm.XSaveLegacySize {
		m.xsaveSize, m.xsave2 = n, true
	}
	// Intel VMX wants these below 4 GiB even for long-mode-only guests;
	// other hosts accept and ignore them.
	if err = m.vm.SetTSSAddr(vmxTSSGPA); err != nil {
		return nil, err
	}
	if err = m.vm.SetIdentityMapAddr(vmxTSSGPA + 3*pageSize); err != nil {
		return nil, err
	}
	addSlot := func(slot int, gpa uint64, host []byte) error {
		return m.vm.SetUserMemoryRegion(kvm.MemoryRegion{
			Slot:          uint32(slot),
			GuestPhysAddr: gpa,
			MemorySize:    uint64(len(host)),
			UserspaceAddr: hostAddr(host),
		})
	}
	if m.mm, err = newMM(physSize, limit, addSlot); err != nil {
		return nil, err
	}
	if err = m.installVMMArea(nvcpus); err != nil {
		return nil, err
	}
	for i := 0; i < nvcpus; i++ {
		v, err := m.vm.CreateVCPU(i)
		if err != nil {
			return nil, err
		}
		m.vcpus = append(m.vcpus, v)
		if i == 0 {
			m.host = kvm.DetectHost(v)
			m.initFPU = make([]byte, m.xsaveSize)
			if err := v.XSave(m.initFPU, m.xsave2); err != nil {
				return nil, fmt.Errorf("read initial FPU state: %w", err)
			}
			m.xstate = newXstateLayout(m.cpuid, m.xcr0, m.xsaveSize, m.initFPU)
		}
		if err := m.setupVCPU(v); err != nil {
			return nil, fmt.Errorf("set up vcpu %d: %w", i, err)
		}
	}
	return m, nil
}

// ErrKVMUnsupported is matched by errors saying /dev/kvm lacks something
// the VMM needs.
var ErrKVMUnsupported = errors.New("KVM lacks a required capability")

// close releases the VCPUs, the VM and guest memory, in that order.
func (m *machine) close() error {
	var errs []error
	for _, v := range m.vcpus {
		errs = append(errs, v.Close())
	}
	m.vcpus = nil
	if m.vm != nil {
		errs = append(errs, m.vm.Close())
	}
	if m.mm != nil {
		errs = append(errs, m.mm.close())
	}
	if m.sys != nil {
		errs = append(errs, m.sys.Close())
	}
	return errors.Join(errs...)
}

// installVMMArea maps and fills the GDT, IDT, TSSs, stubs and exception
// stacks. Nothing here changes afterwards.
func (m *machine) installVMMArea(nvcpus int) error {
	const (
		supervisorRO = ptePresent | pteAccessed | pteNX
		supervisorRW = ptePresent | pteWrite | pteAccessed | pteDirty | pteNX
		supervisorRX = ptePresent | pteAccessed
		userRX       = ptePresent | pteUser | pteAccessed
	)
	gdt := buildGDT()
	if err := m.mm.mapVMM(gdtGVA, pageSize, supervisorRO, gdt); err != nil {
		return err
	}
	if err := m.mm.mapVMM(idtGVA, pageSize, supervisorRO, buildIDT()); err != nil {
		return err
	}
	tss := make([]byte, 0, MaxVCPUs*tssSlot)
	for i := 0; i < MaxVCPUs; i++ {
		ist1, ist2 := stackTops(i)
		slot := make([]byte, tssSlot)
		copy(slot, buildTSS(ist1, ist1, ist2))
		tss = append(tss, slot...)
	}
	if err := m.mm.mapVMM(tssGVA, uint64(len(tss)), supervisorRW, tss); err != nil {
		return err
	}
	if err := m.mm.mapVMM(excStubGVA, pageSize, supervisorRX, buildExceptionStubs()); err != nil {
		return err
	}
	if err := m.mm.mapVMM(syscallStubGVA, pageSize, userRX, syscallStub); err != nil {
		return err
	}
	for i := 0; i < nvcpus; i++ {
		_, ist2 := stackTops(i)
		if err := m.mm.mapVMM(ist2-pageSize, vcpuStackPages*pageSize, supervisorRW, nil); err != nil {
			return err
		}
	}
	return nil
}

// setupVCPU puts a new VCPU into 64-bit mode with the VMM's descriptor
// tables, page tables, SYSCALL MSRs, CPUID and XCR0, and user segments.
func (m *machine) setupVCPU(v *kvm.VCPU) error {
	if err := v.SetCPUID(m.cpuid); err != nil {
		return err
	}
	s, err := v.Sregs()
	if err != nil {
		return err
	}
	s.CR0 = cr0PE | cr0MP | cr0ET | cr0NE | cr0WP | cr0AM | cr0PG
	s.CR4 = m.cr4
	s.CR3 = m.mm.CR3()
	s.EFER = eferSCE | eferLME | eferLMA | eferNXE
	s.GDT = kvm.DTable{Base: gdtGVA, Limit: gdtEntries*8 - 1}
	s.IDT = kvm.DTable{Base: idtGVA, Limit: 256*16 - 1}
	s.TR = tssSegment(v.ID())
	s.LDT = kvm.Segment{Unusable: 1}
	s.FS.Base, s.GS.Base = 0, 0
	userSegments(&s)
	if err := v.SetSregs(&s); err != nil {
		return err
	}
	if err := v.SetMSRs(
		kvm.MSREntry{Index: msrSTAR, Data: starValue},
		kvm.MSREntry{Index: msrLSTAR, Data: syscallStubGVA},
		kvm.MSREntry{Index: msrCSTAR, Data: syscallStubGVA},
		kvm.MSREntry{Index: msrSFMASK, Data: sfmask},
		kvm.MSREntry{Index: msrKernelGSBase, Data: 0},
	); err != nil {
		return err
	}
	x := kvm.XCRs{NrXCRs: 1}
	x.XCRs[0] = kvm.XCR{XCR: 0, Value: m.xcr0}
	if err := v.SetXCRs(&x); err != nil {
		return fmt.Errorf("XCR0 %#x: %w", m.xcr0, err)
	}
	r := v.RunData()
	r.ValidRegs = kvm.SyncRegsGPR | kvm.SyncRegsSregs
	return nil
}

// cpuidLeaf finds a CPUID entry.
func cpuidLeaf(ents []kvm.CPUIDEntry, fn, index uint32) (kvm.CPUIDEntry, bool) {
	for _, e := range ents {
		if e.Function == fn && (e.Index == index || e.Flags&kvm.CPUIDFlagSignificantIndex == 0) {
			return e, true
		}
	}
	return kvm.CPUIDEntry{}, false
}

// guestXCR0 is the XCR0 KVM supports (CPUID leaf 0xd, sub-leaf 0): the
// host's state components, so a guest sees AVX-512 where the host has it.
func guestXCR0(ents []kvm.CPUIDEntry) uint64 {
	e, ok := cpuidLeaf(ents, 0xd, 0)
	if !ok {
		return 0x3 // x87 | SSE
	}
	return uint64(e.EAX) | uint64(e.EDX)<<32 | 0x3
}

// guestCR4 enables SSE, XSAVE and, when the CPU has it, FSGSBASE.
func guestCR4(ents []kvm.CPUIDEntry) uint64 {
	cr4 := uint64(cr4PAE | cr4OSFXSR | cr4OSXMMEXCPT)
	if e, ok := cpuidLeaf(ents, 1, 0); ok && e.ECX&(1<<26) != 0 { // XSAVE
		cr4 |= cr4OSXSAVE
	}
	if e, ok := cpuidLeaf(ents, 7, 0); ok && e.EBX&1 != 0 { // FSGSBASE
		cr4 |= cr4FSGSBASE
	}
	return cr4
}
