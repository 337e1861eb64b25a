package perfevent

import (
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// RecordType is perf_event_header.type.
type RecordType uint32

// Record types the decoder understands. Others come back as
// *UnknownRecord with their type number.
const (
	RecordMmap        RecordType = unix.PERF_RECORD_MMAP
	RecordLost        RecordType = unix.PERF_RECORD_LOST
	RecordComm        RecordType = unix.PERF_RECORD_COMM
	RecordExit        RecordType = unix.PERF_RECORD_EXIT
	RecordThrottle    RecordType = unix.PERF_RECORD_THROTTLE
	RecordUnthrottle  RecordType = unix.PERF_RECORD_UNTHROTTLE
	RecordFork        RecordType = unix.PERF_RECORD_FORK
	RecordSample      RecordType = unix.PERF_RECORD_SAMPLE
	RecordMmap2       RecordType = unix.PERF_RECORD_MMAP2
	RecordLostSamples RecordType = unix.PERF_RECORD_LOST_SAMPLES
)

func (t RecordType) String() string {
	switch t {
	case RecordMmap:
		return "MMAP"
	case RecordLost:
		return "LOST"
	case RecordComm:
		return "COMM"
	case RecordExit:
		return "EXIT"
	case RecordThrottle:
		return "THROTTLE"
	case RecordUnthrottle:
		return "UNTHROTTLE"
	case RecordFork:
		return "FORK"
	case RecordSample:
		return "SAMPLE"
	case RecordMmap2:
		return "MMAP2"
	case RecordLostSamples:
		return "LOST_SAMPLES"
	}
	return fmt.Sprintf("RECORD_%d", uint32(t))
}

// CPUMode is where a sample or mapping was taken, from the header's misc
// field.
type CPUMode uint16

const (
	ModeUnknown     CPUMode = 0
	ModeKernel      CPUMode = unix.PERF_RECORD_MISC_KERNEL
	ModeUser        CPUMode = unix.PERF_RECORD_MISC_USER
	ModeHypervisor  CPUMode = unix.PERF_RECORD_MISC_HYPERVISOR
	ModeGuestKernel CPUMode = unix.PERF_RECORD_MISC_GUEST_KERNEL
	ModeGuestUser   CPUMode = unix.PERF_RECORD_MISC_GUEST_USER
)

func (m CPUMode) String() string {
	switch m {
	case ModeKernel:
		return "kernel"
	case ModeUser:
		return "user"
	case ModeHypervisor:
		return "hypervisor"
	case ModeGuestKernel:
		return "guest kernel"
	case ModeGuestUser:
		return "guest user"
	}
	return "unknown"
}

// Identity says where and when a non-sample record happened: the
// sample_id trailer the kernel appends when sample_id_all is set. Only
// the fields selected by the sampler's SampleType are filled.
type Identity struct {
	PID, TID uint32
	Time     uint64
	ID       uint64
	StreamID uint64
	CPU      uint32
}

// RecordHeader is what every record carries.
type RecordHeader struct {
	Type RecordType
	Misc uint16
	// Identity is the sample_id trailer of non-sample records.
	Identity Identity
}

// Header returns the header.
func (h RecordHeader) Header() RecordHeader { return h }

// CPUMode returns the mode bits of Misc.
func (h RecordHeader) CPUMode() CPUMode {
	return CPUMode(h.Misc & unix.PERF_RECORD_MISC_CPUMODE_MASK)
}

// Record is one decoded ring-buffer record: *SampleRecord, *MmapRecord,
// *Mmap2Record, *CommRecord, *ForkRecord (FORK and EXIT), *LostRecord,
// *LostSamplesRecord, *ThrottleRecord (THROTTLE and UNTHROTTLE) or
// *UnknownRecord.
type Record interface {
	Header() RecordHeader
}

// SampleRecord is PERF_RECORD_SAMPLE. Fields not selected by the
// sampler's SampleType are zero.
type SampleRecord struct {
	RecordHeader
	Identifier uint64
	IP         uint64
	PID, TID   uint32
	Time       uint64
	Addr       uint64
	ID         uint64
	StreamID   uint64
	CPU        uint32
	Period     uint64
	// Read is the group's counts at the sample (SampleRead), else nil.
	Read *ReadValues
	// Callchain is the kernel's callchain: return addresses, leaf first,
	// with PERF_CONTEXT_* markers (values >= PERF_CONTEXT_MAX as uint64)
	// saying whether the frames that follow are kernel or user.
	Callchain    []uint64
	Raw          []byte
	Weight       uint64
	DataSrc      uint64
	Transaction  uint64
	PhysAddr     uint64
	Cgroup       uint64
	DataPageSize uint64
	CodePageSize uint64
}

// ExactIP reports whether the IP is the exact instruction (precise_ip).
func (s *SampleRecord) ExactIP() bool { return s.Misc&unix.PERF_RECORD_MISC_EXACT_IP != 0 }

// IsContextMarker reports whether a callchain entry is a PERF_CONTEXT_*
// marker rather than an address.
func IsContextMarker(ip uint64) bool { return int64(ip) < 0 && int64(ip) >= unix.PERF_CONTEXT_MAX }

// MmapRecord is PERF_RECORD_MMAP: an executable mapping.
type MmapRecord struct {
	RecordHeader
	PID, TID  uint32
	Addr, Len uint64
	Pgoff     uint64
	Filename  string
}

// Mmap2Record is PERF_RECORD_MMAP2. When the header's misc has
// PERF_RECORD_MISC_MMAP_BUILD_ID, BuildID is set and Maj, Min, Ino and
// InoGeneration are zero.
type Mmap2Record struct {
	RecordHeader
	PID, TID      uint32
	Addr, Len     uint64
	Pgoff         uint64
	Maj, Min      uint32
	Ino           uint64
	InoGeneration uint64
	BuildID       []byte
	Prot, Flags   uint32
	Filename      string
}

// CommRecord is PERF_RECORD_COMM: a thread's name changed.
type CommRecord struct {
	RecordHeader
	PID, TID uint32
	Comm     string
}

// Exec reports whether the name changed because of an execve.
func (c *CommRecord) Exec() bool { return c.Misc&unix.PERF_RECORD_MISC_COMM_EXEC != 0 }

// ForkRecord is PERF_RECORD_FORK or PERF_RECORD_EXIT (Header().Type
// tells which).
type ForkRecord struct {
	RecordHeader
	PID, PPID uint32
	TID, PTID uint32
	Time      uint64
}

// LostRecord is PERF_RECORD_LOST: the ring was full and Lost records of
// event ID were dropped.
type LostRecord struct {
	RecordHeader
	ID, Lost uint64
}

// LostSamplesRecord is PERF_RECORD_LOST_SAMPLES.
type LostSamplesRecord struct {
	RecordHeader
	Lost uint64
}

// ThrottleRecord is PERF_RECORD_THROTTLE or PERF_RECORD_UNTHROTTLE: the
// kernel limited the sample rate (kernel.perf_event_max_sample_rate).
type ThrottleRecord struct {
	RecordHeader
	Time, ID, StreamID uint64
}

// UnknownRecord is a record of a type the decoder does not decode; Data
// is its body after the header.
type UnknownRecord struct {
	RecordHeader
	Data []byte
}
