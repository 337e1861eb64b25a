package kvm

import (
	"encoding/binary"
	"strconv"
)

// Run mirrors struct kvm_run (include/uapi/linux/kvm.h) on x86-64, the
// page KVM shares with user space for each VCPU. 2352 bytes; the mmap'd
// region is larger (KVM_GET_VCPU_MMAP_SIZE) and also holds port I/O data.
//
// The exit-information union is kept as raw bytes (ExitData); [DecodeExit]
// turns it into an [Exit] without unsafe code.
type Run struct {
	RequestInterruptWindow uint8
	// ImmediateExit, when non-zero, makes KVM_RUN return EINTR at once.
	// Other threads set it through VCPU.RequestImmediateExit.
	ImmediateExit              uint8
	_                          [6]uint8
	ExitReason                 uint32
	ReadyForInterruptInjection uint8
	IFFlag                     uint8
	Flags                      uint16
	CR8                        uint64
	APICBase                   uint64
	// ExitData is the anonymous exit union (io, mmio, debug, fail_entry,
	// internal, system_event, ...), 256 bytes.
	ExitData [256]byte
	// ValidRegs selects the SyncRegs kinds KVM stores on exit
	// (kvm_valid_regs); DirtyRegs those it loads on entry
	// (kvm_dirty_regs). KVM clears DirtyRegs after loading.
	ValidRegs uint64
	DirtyRegs uint64
	// Sync is struct kvm_sync_regs inside the 2048-byte union s.
	Sync SyncRegs
	_    [2048 - 520]byte
}

// ExitReason is kvm_run.exit_reason (KVM_EXIT_*).
type ExitReason uint32

// Exit reasons the VMM distinguishes. Values from include/uapi/linux/kvm.h.
const (
	ExitUnknown       ExitReason = 0
	ExitException     ExitReason = 1
	ExitIO            ExitReason = 2
	ExitHypercall     ExitReason = 3
	ExitDebug         ExitReason = 4
	ExitHLT           ExitReason = 5
	ExitMMIO          ExitReason = 6
	ExitShutdown      ExitReason = 8
	ExitFailEntry     ExitReason = 9
	ExitIntr          ExitReason = 10
	ExitInternalError ExitReason = 17
	ExitSystemEvent   ExitReason = 24
	ExitX86RDMSR      ExitReason = 29
	ExitX86WRMSR      ExitReason = 30
)

var exitReasonNames = map[ExitReason]string{
	ExitUnknown:       "UNKNOWN",
	ExitException:     "EXCEPTION",
	ExitIO:            "IO",
	ExitHypercall:     "HYPERCALL",
	ExitDebug:         "DEBUG",
	ExitHLT:           "HLT",
	ExitMMIO:          "MMIO",
	ExitShutdown:      "SHUTDOWN",
	ExitFailEntry:     "FAIL_ENTRY",
	ExitIntr:          "INTR",
	ExitInternalError: "INTERNAL_ERROR",
	ExitSystemEvent:   "SYSTEM_EVENT",
	ExitX86RDMSR:      "X86_RDMSR",
	ExitX86WRMSR:      "X86_WRMSR",
}

func (r ExitReason) String() string {
	if n, ok := exitReasonNames[r]; ok {
		return "KVM_EXIT_" + n
	}
	return "KVM_EXIT_" + strconv.FormatUint(uint64(r), 10)
}

// Port I/O directions (KVM_EXIT_IO_*).
const (
	IODirIn  = 0
	IODirOut = 1
)

// Internal-error sub-reasons (KVM_INTERNAL_ERROR_*).
const (
	InternalErrorEmulation      = 1
	InternalErrorSimulEx        = 2
	InternalErrorDeliveryEv     = 3
	InternalErrorUnexpectedExit = 4
)

// System-event types (KVM_SYSTEM_EVENT_*).
const (
	SystemEventShutdown = 1
	SystemEventReset    = 2
	SystemEventCrash    = 3
)

// IOExit is the io member of the exit union.
type IOExit struct {
	Direction uint8
	Size      uint8
	Port      uint16
	Count     uint32
	// DataOffset is the offset of the data from the start of the mmap'd
	// kvm_run region.
	DataOffset uint64
}

// MMIOExit is the mmio member of the exit union.
type MMIOExit struct {
	PhysAddr uint64
	Data     [8]byte
	Len      uint32
	IsWrite  bool
}

// DebugExit is the debug member (struct kvm_debug_exit_arch).
type DebugExit struct {
	Exception uint32
	PC        uint64
	DR6       uint64
	DR7       uint64
}

// FailEntryExit is the fail_entry member.
type FailEntryExit struct {
	HardwareEntryFailureReason uint64
	CPU                        uint32
}

// InternalExit is the internal member; Data holds its ndata words.
type InternalExit struct {
	Suberror uint32
	Data     []uint64
}

// SystemEventExit is the system_event member; Data holds its ndata words.
type SystemEventExit struct {
	Type uint32
	Data []uint64
}

// ExceptionExit is the ex member (KVM_EXIT_EXCEPTION).
type ExceptionExit struct {
	Exception uint32
	ErrorCode uint32
}

// Exit is a decoded VM exit: the reason plus the union member that the
// reason selects (the others are zero).
type Exit struct {
	Reason      ExitReason
	IO          IOExit
	MMIO        MMIOExit
	Debug       DebugExit
	FailEntry   FailEntryExit
	Internal    InternalExit
	SystemEvent SystemEventExit
	Exception   ExceptionExit
}

// maxUnionWords bounds the data arrays of the internal and system_event
// members (both are __u64 data[16] in the header).
const maxUnionWords = 16

// DecodeExit decodes the exit union of a kvm_run for the given reason. It
// is pure: any reason and any bytes decode without panicking, and counts
// larger than the header's arrays are clamped.
func DecodeExit(reason ExitReason, data *[256]byte) Exit {
	le := binary.LittleEndian
	e := Exit{Reason: reason}
	switch reason {
	case ExitIO:
		e.IO = IOExit{
			Direction:  data[0],
			Size:       data[1],
			Port:       le.Uint16(data[2:]),
			Count:      le.Uint32(data[4:]),
			DataOffset: le.Uint64(data[8:]),
		}
	case ExitMMIO:
		e.MMIO.PhysAddr = le.Uint64(data[0:])
		copy(e.MMIO.Data[:], data[8:16])
		e.MMIO.Len = le.Uint32(data[16:])
		e.MMIO.IsWrite = data[20] != 0
	case ExitDebug:
		e.Debug = DebugExit{
			Exception: le.Uint32(data[0:]),
			PC:        le.Uint64(data[8:]),
			DR6:       le.Uint64(data[16:]),
			DR7:       le.Uint64(data[24:]),
		}
	case ExitFailEntry:
		e.FailEntry = FailEntryExit{
			HardwareEntryFailureReason: le.Uint64(data[0:]),
			CPU:                        le.Uint32(data[8:]),
		}
	case ExitInternalError:
		e.Internal.Suberror = le.Uint32(data[0:])
		e.Internal.Data = decodeWords(data, le.Uint32(data[4:]))
	case ExitSystemEvent:
		e.SystemEvent.Type = le.Uint32(data[0:])
		e.SystemEvent.Data = decodeWords(data, le.Uint32(data[4:]))
	case ExitException:
		e.Exception = ExceptionExit{
			Exception: le.Uint32(data[0:]),
			ErrorCode: le.Uint32(data[4:]),
		}
	}
	return e
}

// decodeWords reads n (clamped) __u64 words starting at byte 8 of the
// union.
func decodeWords(data *[256]byte, n uint32) []uint64 {
	if n > maxUnionWords {
		n = maxUnionWords
	}
	if n == 0 {
		return nil
	}
	w := make([]uint64, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(data[8+8*i:])
	}
	return w
}
