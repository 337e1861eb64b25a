package virt

// ABIVersion is the version of the state-page layout and of the
// paravirtual call interface. A reader must refuse a page whose Version it
// does not know.
const ABIVersion = 1

// PageSize is the size of one state page.
const PageSize = 4096

const (
	// MaxCounters is the number of logical counters one thread can have
	// open at once.
	MaxCounters = 16
	// MaxSources is the number of counter sources a VCPU tracks.
	MaxSources = 32
	// MaxVCPUs is the number of VCPU pages; VCPU page i is at
	// ThreadPage.VCPUBase + i*PageSize.
	MaxVCPUs = 256
)

// SourceKind says how the physical part of a source is read.
type SourceKind uint32

const (
	// SourceOff marks an unused source slot.
	SourceOff SourceKind = iota
	// SourceVMM is a count the VMM keeps itself (system calls, VM
	// exits, single-stepped instructions). Its whole value is in Sum; it
	// only changes while the VCPU is out of guest mode.
	SourceVMM
	// SourceTSC counts TSC ticks while the VCPU is in guest mode. The
	// physical part is read with rdtsc.
	SourceTSC
	// SourceRDPMC is a hardware counter the guest may read with rdpmc
	// (Index is the rdpmc index). Width gives the counter's bit width;
	// differences are taken modulo 2^Width.
	SourceRDPMC
	// SourceHost is a counter kept by the host kernel on the VCPU thread
	// (a guest-only perf_event). The VMM folds it into Sum at every exit,
	// so a direct read sees its value as of the last exit; the
	// paravirtual read call is exact.
	SourceHost
)

// Source slot flags.
const (
	// SourceInGuest is set in VCPUPage.Flags while the VCPU is in guest
	// mode, that is, while Phys - Start is part of the value.
	VCPUInGuest = 1 << 0
)

// Counter slot flags.
const (
	// CounterEnabled is set while the logical counter counts.
	CounterEnabled = 1 << 0
)

// NoVCPU is ThreadPage.VCPU while the thread is not on a VCPU.
const NoVCPU = ^uint32(0)

// SourceSlot is one counter source of a VCPU, as the guest sees it.
//
// Layout (32 bytes): kind u32, width u32, index u32, pad u32, sum u64,
// start u64.
type SourceSlot struct {
	Kind  uint32
	Width uint32
	Index uint32
	_     uint32
	Sum   uint64
	Start uint64
}

// VCPUPage is the per-VCPU state page. The VMM writes it; the guest maps
// it read-only. All multi-byte fields are little-endian and 8-byte fields
// are 8-byte aligned, so they can be loaded atomically.
//
// Layout:
//
//	0x000 seq      u32  odd while the VMM writes the page
//	0x004 version  u32  ABIVersion
//	0x008 id       u32  VCPU index
//	0x00c pcpu     u32  PCPU slot the VCPU last entered guest mode on
//	0x010 flags    u32  VCPUInGuest
//	0x014 nsources u32  number of source slots in use
//	0x018 tscmult  u32  ns = (ticks * tscmult) >> tscshift
//	0x01c tscshift u32
//	0x020 gen      u64  number of times the VCPU entered guest mode
//	0x028 pad      [3]u64
//	0x040 sources  [32]SourceSlot
//	0x440 pad to the end of the page
//
// The type is exactly one page long, so that an array of VCPUPage has the
// layout of the VCPU pages in the guest (page i at vcpubase + i*4096).
type VCPUPage struct {
	Seq      uint32
	Version  uint32
	ID       uint32
	PCPU     uint32
	Flags    uint32
	NSources uint32
	TSCMult  uint32
	TSCShift uint32
	Gen      uint64
	_        [3]uint64
	Sources  [MaxSources]SourceSlot
	_        [PageSize - 0x40 - MaxSources*32]byte
}

// CounterSlot is one logical counter of a thread.
//
// Layout (32 bytes): source u32, flags u32, event u64, sum u64, start u64.
type CounterSlot struct {
	Source uint32
	Flags  uint32
	Event  uint64
	Sum    uint64
	Start  uint64
}

// ThreadPage is the per-thread state page. The VMM writes it; the guest
// maps it read-only, and the thread's GS base points at it, so that code
// on the thread finds its own page with a gs-relative load, whichever VCPU
// it runs on.
//
// Layout:
//
//	0x000 seq       u32  odd while the VMM writes the page
//	0x004 version   u32  ABIVersion
//	0x008 self      u64  guest address of this page
//	0x010 tid       u32  guest thread id
//	0x014 vcpu      u32  VCPU the thread runs on, or NoVCPU
//	0x018 ncounters u32  number of counter slots in use
//	0x01c flags     u32  reserved
//	0x020 vcpubase  u64  guest address of VCPU page 0; page i is at vcpubase + i*4096
//	0x028 switches  u64  number of times the thread was switched in
//	0x030 pad       [2]u64
//	0x040 counters  [16]CounterSlot
//	0x240 pad to the end of the page
type ThreadPage struct {
	Seq       uint32
	Version   uint32
	Self      uint64
	TID       uint32
	VCPU      uint32
	NCounters uint32
	Flags     uint32
	VCPUBase  uint64
	Switches  uint64
	_         [2]uint64
	Counters  [MaxCounters]CounterSlot
	_         [PageSize - 0x40 - MaxCounters*32]byte
}

// mask returns the low width bits of x; width 0 or >= 64 means 64.
func mask(x uint64, width uint32) uint64 {
	if width == 0 || width >= 64 {
		return x
	}
	return x & (1<<width - 1)
}
