package kvm

import (
	"testing"
	"unsafe"

	"github.com/vpmu/vpmu/internal/unix"
)

// The expected values below are sizeof/offsetof of the uapi structs
// (include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h) and the
// ioctl numbers, printed by a C program compiled against linux-libc-dev's
// headers on x86-64.

func TestStructSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_regs", unsafe.Sizeof(Regs{}), 144},
		{"kvm_sregs", unsafe.Sizeof(Sregs{}), 312},
		{"kvm_segment", unsafe.Sizeof(Segment{}), 24},
		{"kvm_dtable", unsafe.Sizeof(DTable{}), 16},
		{"kvm_run", unsafe.Sizeof(Run{}), 2352},
		{"kvm_sync_regs", unsafe.Sizeof(SyncRegs{}), 520},
		{"kvm_guest_debug", unsafe.Sizeof(GuestDebug{}), 72},
		{"kvm_userspace_memory_region", unsafe.Sizeof(MemoryRegion{}), 32},
		{"kvm_vcpu_events", unsafe.Sizeof(VCPUEvents{}), 64},
		{"kvm_msrs", unsafe.Sizeof(msrsHeader{}), 8},
		{"kvm_msr_entry", unsafe.Sizeof(MSREntry{}), 16},
		{"kvm_cpuid2", unsafe.Sizeof(cpuidHeader{}), 8},
		{"kvm_cpuid_entry2", unsafe.Sizeof(CPUIDEntry{}), 40},
		{"kvm_enable_cap", unsafe.Sizeof(enableCap{}), 104},
		{"kvm_xcrs", unsafe.Sizeof(XCRs{}), 392},
		{"kvm_xcr", unsafe.Sizeof(XCR{}), 16},
	} {
		if tc.got != tc.want {
			t.Errorf("sizeof(struct %s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestStructOffsets(t *testing.T) {
	var (
		r   Run
		s   Sregs
		seg Segment
		ev  VCPUEvents
		sr  SyncRegs
		rg  Regs
		mr  MemoryRegion
		gd  GuestDebug
		ce  CPUIDEntry
		ec  enableCap
		xc  XCRs
	)
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_run.immediate_exit", unsafe.Offsetof(r.ImmediateExit), 1},
		{"kvm_run.exit_reason", unsafe.Offsetof(r.ExitReason), 8},
		{"kvm_run.ready_for_interrupt_injection", unsafe.Offsetof(r.ReadyForInterruptInjection), 12},
		{"kvm_run.if_flag", unsafe.Offsetof(r.IFFlag), 13},
		{"kvm_run.flags", unsafe.Offsetof(r.Flags), 14},
		{"kvm_run.cr8", unsafe.Offsetof(r.CR8), 16},
		{"kvm_run.apic_base", unsafe.Offsetof(r.APICBase), 24},
		{"kvm_run.io (exit union)", unsafe.Offsetof(r.ExitData), 32},
		{"kvm_run.kvm_valid_regs", unsafe.Offsetof(r.ValidRegs), 288},
		{"kvm_run.kvm_dirty_regs", unsafe.Offsetof(r.DirtyRegs), 296},
		{"kvm_run.s", unsafe.Offsetof(r.Sync), 304},
		{"kvm_sync_regs.sregs", unsafe.Offsetof(sr.Sregs), 144},
		{"kvm_sync_regs.events", unsafe.Offsetof(sr.Events), 456},
		{"kvm_regs.r15", unsafe.Offsetof(rg.R15), 120},
		{"kvm_regs.rip", unsafe.Offsetof(rg.RIP), 128},
		{"kvm_regs.rflags", unsafe.Offsetof(rg.RFLAGS), 136},
		{"kvm_sregs.ds", unsafe.Offsetof(s.DS), 24},
		{"kvm_sregs.fs", unsafe.Offsetof(s.FS), 72},
		{"kvm_sregs.ss", unsafe.Offsetof(s.SS), 120},
		{"kvm_sregs.tr", unsafe.Offsetof(s.TR), 144},
		{"kvm_sregs.ldt", unsafe.Offsetof(s.LDT), 168},
		{"kvm_sregs.gdt", unsafe.Offsetof(s.GDT), 192},
		{"kvm_sregs.idt", unsafe.Offsetof(s.IDT), 208},
		{"kvm_sregs.cr0", unsafe.Offsetof(s.CR0), 224},
		{"kvm_sregs.cr2", unsafe.Offsetof(s.CR2), 232},
		{"kvm_sregs.cr3", unsafe.Offsetof(s.CR3), 240},
		{"kvm_sregs.cr4", unsafe.Offsetof(s.CR4), 248},
		{"kvm_sregs.cr8", unsafe.Offsetof(s.CR8), 256},
		{"kvm_sregs.efer", unsafe.Offsetof(s.EFER), 264},
		{"kvm_sregs.apic_base", unsafe.Offsetof(s.APICBase), 272},
		{"kvm_sregs.interrupt_bitmap", unsafe.Offsetof(s.InterruptBitmap), 280},
		{"kvm_segment.limit", unsafe.Offsetof(seg.Limit), 8},
		{"kvm_segment.selector", unsafe.Offsetof(seg.Selector), 12},
		{"kvm_segment.type", unsafe.Offsetof(seg.Type), 14},
		{"kvm_segment.present", unsafe.Offsetof(seg.Present), 15},
		{"kvm_segment.dpl", unsafe.Offsetof(seg.DPL), 16},
		{"kvm_segment.db", unsafe.Offsetof(seg.DB), 17},
		{"kvm_segment.s", unsafe.Offsetof(seg.S), 18},
		{"kvm_segment.l", unsafe.Offsetof(seg.L), 19},
		{"kvm_segment.g", unsafe.Offsetof(seg.G), 20},
		{"kvm_segment.avl", unsafe.Offsetof(seg.AVL), 21},
		{"kvm_segment.unusable", unsafe.Offsetof(seg.Unusable), 22},
		{"kvm_vcpu_events.interrupt", unsafe.Offsetof(ev.Interrupt), 8},
		{"kvm_vcpu_events.nmi", unsafe.Offsetof(ev.NMI), 12},
		{"kvm_vcpu_events.sipi_vector", unsafe.Offsetof(ev.SIPIVector), 16},
		{"kvm_vcpu_events.flags", unsafe.Offsetof(ev.Flags), 20},
		{"kvm_vcpu_events.smi", unsafe.Offsetof(ev.SMI), 24},
		{"kvm_vcpu_events.exception_has_payload", unsafe.Offsetof(ev.ExceptionHasPayload), 55},
		{"kvm_vcpu_events.exception_payload", unsafe.Offsetof(ev.ExceptionPayload), 56},
		{"kvm_userspace_memory_region.guest_phys_addr", unsafe.Offsetof(mr.GuestPhysAddr), 8},
		{"kvm_userspace_memory_region.userspace_addr", unsafe.Offsetof(mr.UserspaceAddr), 24},
		{"kvm_guest_debug.arch", unsafe.Offsetof(gd.DebugRegs), 8},
		{"kvm_cpuid_entry2.eax", unsafe.Offsetof(ce.EAX), 12},
		{"kvm_enable_cap.args", unsafe.Offsetof(ec.Args), 8},
		{"kvm_xcrs.xcrs", unsafe.Offsetof(xc.XCRs), 8},
		{"kvm_xcrs.padding", unsafe.Offsetof(xc.Padding), 264},
	} {
		if tc.got != tc.want {
			t.Errorf("offsetof(%s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestIoctlNumbers(t *testing.T) {
	// _IOC(dir, 0xAE, nr, size) = dir<<30 | size<<16 | 0xAE<<8 | nr
	ioc := func(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 0xae<<8 | nr }
	const none, write, read = 0, 1, 2
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"KVM_GET_API_VERSION", unix.KVM_GET_API_VERSION, ioc(none, 0x00, 0)},
		{"KVM_CREATE_VM", unix.KVM_CREATE_VM, ioc(none, 0x01, 0)},
		{"KVM_CHECK_EXTENSION", unix.KVM_CHECK_EXTENSION, ioc(none, 0x03, 0)},
		{"KVM_GET_VCPU_MMAP_SIZE", unix.KVM_GET_VCPU_MMAP_SIZE, ioc(none, 0x04, 0)},
		{"KVM_GET_SUPPORTED_CPUID", unix.KVM_GET_SUPPORTED_CPUID, ioc(read|write, 0x05, unsafe.Sizeof(cpuidHeader{}))},
		{"KVM_CREATE_VCPU", unix.KVM_CREATE_VCPU, ioc(none, 0x41, 0)},
		{"KVM_SET_USER_MEMORY_REGION", unix.KVM_SET_USER_MEMORY_REGION, ioc(write, 0x46, unsafe.Sizeof(MemoryRegion{}))},
		{"KVM_SET_TSS_ADDR", unix.KVM_SET_TSS_ADDR, ioc(none, 0x47, 0)},
		{"KVM_SET_IDENTITY_MAP_ADDR", unix.KVM_SET_IDENTITY_MAP_ADDR, ioc(write, 0x48, 8)},
		{"KVM_ENABLE_CAP", unix.KVM_ENABLE_CAP, ioc(write, 0xa3, unsafe.Sizeof(enableCap{}))},
		{"KVM_RUN", unix.KVM_RUN, ioc(none, 0x80, 0)},
		{"KVM_GET_REGS", unix.KVM_GET_REGS, ioc(read, 0x81, unsafe.Sizeof(Regs{}))},
		{"KVM_SET_REGS", unix.KVM_SET_REGS, ioc(write, 0x82, unsafe.Sizeof(Regs{}))},
		{"KVM_GET_SREGS", unix.KVM_GET_SREGS, ioc(read, 0x83, unsafe.Sizeof(Sregs{}))},
		{"KVM_SET_SREGS", unix.KVM_SET_SREGS, ioc(write, 0x84, unsafe.Sizeof(Sregs{}))},
		{"KVM_GET_MSRS", unix.KVM_GET_MSRS, ioc(read|write, 0x88, unsafe.Sizeof(msrsHeader{}))},
		{"KVM_SET_MSRS", unix.KVM_SET_MSRS, ioc(write, 0x89, unsafe.Sizeof(msrsHeader{}))},
		{"KVM_SET_CPUID2", unix.KVM_SET_CPUID2, ioc(write, 0x90, unsafe.Sizeof(cpuidHeader{}))},
		{"KVM_SET_GUEST_DEBUG", unix.KVM_SET_GUEST_DEBUG, ioc(write, 0x9b, unsafe.Sizeof(GuestDebug{}))},
		{"KVM_GET_VCPU_EVENTS", unix.KVM_GET_VCPU_EVENTS, ioc(read, 0x9f, unsafe.Sizeof(VCPUEvents{}))},
		{"KVM_SET_VCPU_EVENTS", unix.KVM_SET_VCPU_EVENTS, ioc(write, 0xa0, unsafe.Sizeof(VCPUEvents{}))},
		{"KVM_GET_XSAVE", unix.KVM_GET_XSAVE, ioc(read, 0xa4, XSaveLegacySize)},
		{"KVM_SET_XSAVE", unix.KVM_SET_XSAVE, ioc(write, 0xa5, XSaveLegacySize)},
		{"KVM_GET_XCRS", unix.KVM_GET_XCRS, ioc(read, 0xa6, unsafe.Sizeof(XCRs{}))},
		{"KVM_SET_XCRS", unix.KVM_SET_XCRS, ioc(write, 0xa7, unsafe.Sizeof(XCRs{}))},
		{"KVM_GET_XSAVE2", unix.KVM_GET_XSAVE2, ioc(read, 0xcf, XSaveLegacySize)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}
