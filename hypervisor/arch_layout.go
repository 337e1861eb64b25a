package hypervisor

// Guest address-space layout. docs/hypervisor.md draws it.
//
// Guest-virtual (GVA):
//
//	[0, userMin)            never mapped: NULL dereferences fault
//	[userMin, userTop)      the program's address space (ELF, brk, mmap, stack)
//	[vmmBase, vmmEnd)       the VMM area: GDT, IDT, TSSs, stubs, exception stacks
//
// Guest-physical (GPA): one host mapping registered as memory slots from
// gpaBase up; pages are handed out by a bump allocator and a GPA page,
// once bound to a GVA page, stays bound to it for the life of the VM.
// GPAs below 4 GiB stay free for what Intel VMX wants there
// (KVM_SET_TSS_ADDR, the identity map).
const (
	pageSize  = 4096
	pageShift = 12
	pageMask  = pageSize - 1

	// userMin mirrors Linux's default vm.mmap_min_addr.
	userMin = 0x10000
	// userTop is the end of the program's address space; the VMM area
	// sits right above it, still in the lower canonical half (PVM hosts
	// own most of the upper half).
	userTop = 0x7fff_8000_0000

	vmmBase = userTop
	// gdtGVA holds the GDT (one page, supervisor, read-only).
	gdtGVA = vmmBase + 0x0000
	// idtGVA holds the 256-entry IDT (one page, supervisor, read-only).
	idtGVA = vmmBase + 0x1000
	// tssGVA holds one tssSlot-byte TSS (with its I/O bitmap) per VCPU.
	tssGVA = vmmBase + 0x2000
	// excStubGVA holds the exception stubs (supervisor, executable).
	excStubGVA = vmmBase + 0x4000
	// syscallStubGVA holds the SYSCALL entry (LSTAR): user-executable,
	// because PVM keeps CPL 3 on SYSCALL.
	syscallStubGVA = vmmBase + 0x5000
	// stacksGVA starts the per-VCPU exception stacks: vcpuStackPages
	// pages each, the #DF stack (IST2) below the stack of every other
	// vector (IST1).
	stacksGVA      = vmmBase + 0x10000
	vcpuStackPages = 2
	// MaxVCPUs bounds Config.VCPUs: the TSS pages hold this many TSSs.
	MaxVCPUs = 64
	tssSlot  = 128
	vmmEnd   = stacksGVA + MaxVCPUs*vcpuStackPages*pageSize

	// gpaBase is the guest-physical address of the first memory slot.
	gpaBase = 1 << 32
	// vmxTSSGPA is the three-page region KVM_SET_TSS_ADDR wants below
	// 4 GiB on Intel hosts (the address QEMU and Firecracker use).
	vmxTSSGPA = 0xfffb_d000
)

// GDT selectors, mirroring Linux x86-64 (arch/x86/include/asm/segment.h).
// PVM requires the user selectors to equal the host's.
const (
	selKernelCS32 = 0x08
	selKernelCS   = 0x10
	selKernelDS   = 0x18
	selUserCS32   = 0x23
	selUserDS     = 0x2b
	selUserCS     = 0x33
	selTSS        = 0x40
	gdtEntries    = 10 // null, k32, kcs, kds, ucs32, uds, ucs, unused, tss(2)
)

// I/O ports of the guest-to-VMM exits. The TSS I/O bitmap lets CPL 3 use
// portSyscall only.
const (
	portSyscall   = 0x10
	portException = 0x11
	// ioBitmapPorts is how many ports the I/O bitmap covers; ports above
	// are denied at CPL 3 by the TSS limit.
	ioBitmapPorts = 64
)

// IST stack indexes used by the IDT gates.
const (
	istDefault     = 1 // every vector except #DF
	istDoubleFault = 2
)

// Control-register and EFER bits the VMM sets.
const (
	cr0PE = 1 << 0
	cr0MP = 1 << 1
	cr0ET = 1 << 4
	cr0NE = 1 << 5
	cr0WP = 1 << 16
	cr0AM = 1 << 18
	cr0PG = 1 << 31

	cr4PAE        = 1 << 5
	cr4OSFXSR     = 1 << 9
	cr4OSXMMEXCPT = 1 << 10
	cr4FSGSBASE   = 1 << 16
	cr4OSXSAVE    = 1 << 18

	eferSCE = 1 << 0
	eferLME = 1 << 8
	eferLMA = 1 << 10
	eferNXE = 1 << 11
)

// RFLAGS bits.
const (
	rflagsCF       = 1 << 0
	rflagsReserved = 1 << 1 // always 1
	rflagsPF       = 1 << 2
	rflagsAF       = 1 << 4
	rflagsZF       = 1 << 6
	rflagsSF       = 1 << 7
	rflagsTF       = 1 << 8
	rflagsIF       = 1 << 9
	rflagsDF       = 1 << 10
	rflagsOF       = 1 << 11
	rflagsIOPL     = 3 << 12
	rflagsNT       = 1 << 14
	rflagsRF       = 1 << 16
	rflagsAC       = 1 << 18
	rflagsID       = 1 << 21

	// userRflags is the RFLAGS a new program starts with.
	userRflags = rflagsReserved | rflagsIF
	// sfmask is what SYSCALL clears, as Linux sets MSR_SYSCALL_MASK.
	sfmask = rflagsCF | rflagsPF | rflagsAF | rflagsZF | rflagsSF | rflagsTF |
		rflagsIF | rflagsDF | rflagsOF | rflagsIOPL | rflagsNT | rflagsRF | rflagsAC | rflagsID
)

// MSR indexes.
const (
	msrEFER         = 0xc0000080
	msrSTAR         = 0xc0000081
	msrLSTAR        = 0xc0000082
	msrCSTAR        = 0xc0000083
	msrSFMASK       = 0xc0000084
	msrFSBase       = 0xc0000100
	msrGSBase       = 0xc0000101
	msrKernelGSBase = 0xc0000102

	// starValue makes SYSCALL load CS 0x10/SS 0x18 and SYSRET load CS
	// 0x33/SS 0x2b, as on Linux.
	starValue = uint64(selUserCS32)<<48 | uint64(selKernelCS)<<32
)

// tssBase returns the GVA of VCPU id's TSS.
func tssBase(id int) uint64 { return tssGVA + uint64(id)*tssSlot }

// stackTops returns the IST1 and IST2 stack tops of VCPU id.
func stackTops(id int) (ist1, ist2 uint64) {
	base := stacksGVA + uint64(id)*vcpuStackPages*pageSize
	return base + 2*pageSize, base + pageSize
}
