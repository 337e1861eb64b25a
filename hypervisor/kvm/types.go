package kvm

// Regs mirrors struct kvm_regs (arch/x86/include/uapi/asm/kvm.h): the
// general-purpose registers, RIP and RFLAGS. 144 bytes.
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment mirrors struct kvm_segment: a segment register with its hidden
// descriptor cache. 24 bytes.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable mirrors struct kvm_dtable: the GDTR or IDTR. 16 bytes.
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs mirrors struct kvm_sregs: segment, descriptor-table and control
// registers. 312 bytes.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	// InterruptBitmap is the pending external interrupt, one bit per
	// vector (KVM_NR_INTERRUPTS = 256).
	InterruptBitmap [4]uint64
}

// VCPUEvents mirrors struct kvm_vcpu_events: pending exceptions,
// interrupts and NMIs. 64 bytes.
type VCPUEvents struct {
	Exception struct {
		Injected     uint8
		Nr           uint8
		HasErrorCode uint8
		Pending      uint8
		ErrorCode    uint32
	}
	Interrupt struct {
		Injected uint8
		Nr       uint8
		Soft     uint8
		Shadow   uint8
	}
	NMI struct {
		Injected uint8
		Pending  uint8
		Masked   uint8
		_        uint8
	}
	SIPIVector uint32
	Flags      uint32
	SMI        struct {
		SMM          uint8
		Pending      uint8
		SMMInsideNMI uint8
		LatchedInit  uint8
	}
	TripleFault struct {
		Pending uint8
	}
	_                   [26]uint8
	ExceptionHasPayload uint8
	ExceptionPayload    uint64
}

// SyncRegs mirrors struct kvm_sync_regs (x86): the register copies KVM
// stores into kvm_run on every exit for the kinds set in
// kvm_run.kvm_valid_regs and loads on entry for those set in
// kvm_run.kvm_dirty_regs (KVM_CAP_SYNC_REGS). 520 bytes.
type SyncRegs struct {
	Regs   Regs
	Sregs  Sregs
	Events VCPUEvents
}

// Sync-register kinds for Run.ValidRegs and Run.DirtyRegs
// (KVM_SYNC_X86_*).
const (
	SyncRegsGPR    = 1 << 0 // KVM_SYNC_X86_REGS
	SyncRegsSregs  = 1 << 1 // KVM_SYNC_X86_SREGS
	SyncRegsEvents = 1 << 2 // KVM_SYNC_X86_EVENTS
)

// MemoryRegion mirrors struct kvm_userspace_memory_region: one memory
// slot mapping guest-physical addresses to host memory. 32 bytes.
type MemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// Memory-region flags.
const (
	MemLogDirtyPages = 1 << 0 // KVM_MEM_LOG_DIRTY_PAGES
	MemReadonly      = 1 << 1 // KVM_MEM_READONLY
)

// GuestDebug mirrors struct kvm_guest_debug with the x86 struct
// kvm_guest_debug_arch (eight debug registers). 72 bytes.
type GuestDebug struct {
	Control   uint32
	_         uint32
	DebugRegs [8]uint64
}

// Guest-debug control bits (KVM_GUESTDBG_*).
const (
	GuestDebugEnable     = 0x00000001
	GuestDebugSingleStep = 0x00000002
	GuestDebugUseSWBP    = 0x00010000
	GuestDebugUseHWBP    = 0x00020000
	GuestDebugInjectDB   = 0x00040000
	GuestDebugInjectBP   = 0x00080000
)

// MSREntry mirrors struct kvm_msr_entry. 16 bytes.
type MSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// CPUIDEntry mirrors struct kvm_cpuid_entry2. 40 bytes.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// CPUID entry flags.
const (
	CPUIDFlagSignificantIndex = 1 << 0 // KVM_CPUID_FLAG_SIGNIFCANT_INDEX
)

// XCR mirrors struct kvm_xcr. 16 bytes.
type XCR struct {
	XCR   uint32
	_     uint32
	Value uint64
}

// XCRs mirrors struct kvm_xcrs (KVM_MAX_XCRS = 16). 392 bytes.
type XCRs struct {
	NrXCRs  uint32
	Flags   uint32
	XCRs    [16]XCR
	Padding [16]uint64
}

// XSaveLegacySize is the size of struct kvm_xsave, which KVM_GET_XSAVE
// fills; KVM_GET_XSAVE2 may need more (KVM_CAP_XSAVE2).
const XSaveLegacySize = 4096

// enableCap mirrors struct kvm_enable_cap. 104 bytes.
type enableCap struct {
	Cap   uint32
	Flags uint32
	Args  [4]uint64
	_     [64]uint8
}
