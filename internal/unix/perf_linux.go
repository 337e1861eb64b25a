package unix

import (
	"golang.org/x/sys/unix"
)

// perf_event_open(2) structs. PerfEventAttr mirrors struct perf_event_attr
// (the config1/config2 fields are named Ext1/Ext2, and Sample holds
// sample_period or sample_freq); PerfEventMmapPage mirrors struct
// perf_event_mmap_page, the first page of a perf fd's mapping.
type (
	PerfEventAttr     = unix.PerfEventAttr
	PerfEventMmapPage = unix.PerfEventMmapPage
	Siginfo           = unix.Siginfo
)

// PerfEventOpen is perf_event_open(2). On E2BIG the kernel writes the
// attribute size it expects into attr.Size.
var PerfEventOpen = unix.PerfEventOpen

// Calls used around perf fds and the launch trampoline.
var (
	IoctlGetUint64 = unix.IoctlGetUint64
	CloseOnExec    = unix.CloseOnExec
	Exec           = unix.Exec
	Getrlimit      = unix.Getrlimit
	Setrlimit      = unix.Setrlimit
	Nanosleep      = unix.Nanosleep
	PidfdOpen      = unix.PidfdOpen
	SetNonblock    = unix.SetNonblock
	Waitid         = unix.Waitid
)

// perf_event_attr.type values.
const (
	PERF_TYPE_HARDWARE   = unix.PERF_TYPE_HARDWARE
	PERF_TYPE_SOFTWARE   = unix.PERF_TYPE_SOFTWARE
	PERF_TYPE_HW_CACHE   = unix.PERF_TYPE_HW_CACHE
	PERF_TYPE_RAW        = unix.PERF_TYPE_RAW
	PERF_TYPE_BREAKPOINT = unix.PERF_TYPE_BREAKPOINT
)

// Generic event configs the probes use.
const (
	PERF_COUNT_HW_CPU_CYCLES     = unix.PERF_COUNT_HW_CPU_CYCLES
	PERF_COUNT_HW_INSTRUCTIONS   = unix.PERF_COUNT_HW_INSTRUCTIONS
	PERF_COUNT_SW_CPU_CLOCK      = unix.PERF_COUNT_SW_CPU_CLOCK
	PERF_COUNT_SW_TASK_CLOCK     = unix.PERF_COUNT_SW_TASK_CLOCK
	PERF_COUNT_SW_PAGE_FAULTS    = unix.PERF_COUNT_SW_PAGE_FAULTS
	PERF_COUNT_SW_CONTEXT_SWITCH = unix.PERF_COUNT_SW_CONTEXT_SWITCHES
	PERF_COUNT_SW_CPU_MIGRATIONS = unix.PERF_COUNT_SW_CPU_MIGRATIONS
)

// perf_event_attr bit-field flags (the Bits word). x/sys stops at bit 27;
// the later ones are declared here from include/uapi/linux/perf_event.h.
const (
	PerfBitDisabled               = unix.PerfBitDisabled
	PerfBitInherit                = unix.PerfBitInherit
	PerfBitPinned                 = unix.PerfBitPinned
	PerfBitExclusive              = unix.PerfBitExclusive
	PerfBitExcludeUser            = unix.PerfBitExcludeUser
	PerfBitExcludeKernel          = unix.PerfBitExcludeKernel
	PerfBitExcludeHv              = unix.PerfBitExcludeHv
	PerfBitExcludeIdle            = unix.PerfBitExcludeIdle
	PerfBitMmap                   = unix.PerfBitMmap
	PerfBitComm                   = unix.PerfBitComm
	PerfBitFreq                   = unix.PerfBitFreq
	PerfBitInheritStat            = unix.PerfBitInheritStat
	PerfBitEnableOnExec           = unix.PerfBitEnableOnExec
	PerfBitTask                   = unix.PerfBitTask
	PerfBitWatermark              = unix.PerfBitWatermark
	PerfBitPreciseIPBit1          = unix.PerfBitPreciseIPBit1
	PerfBitPreciseIPBit2          = unix.PerfBitPreciseIPBit2
	PerfBitMmapData               = unix.PerfBitMmapData
	PerfBitSampleIDAll            = unix.PerfBitSampleIDAll
	PerfBitExcludeHost            = unix.PerfBitExcludeHost
	PerfBitExcludeGuest           = unix.PerfBitExcludeGuest
	PerfBitExcludeCallchainKernel = unix.PerfBitExcludeCallchainKernel
	PerfBitExcludeCallchainUser   = unix.PerfBitExcludeCallchainUser
	PerfBitMmap2                  = unix.PerfBitMmap2
	PerfBitCommExec               = unix.PerfBitCommExec
	PerfBitUseClockID             = unix.PerfBitUseClockID
	PerfBitContextSwitch          = unix.PerfBitContextSwitch
	PerfBitWriteBackward          = unix.PerfBitWriteBackward

	PerfBitNamespaces    uint64 = 1 << 28
	PerfBitKsymbol       uint64 = 1 << 29
	PerfBitBpfEvent      uint64 = 1 << 30
	PerfBitAuxOutput     uint64 = 1 << 31
	PerfBitCgroup        uint64 = 1 << 32
	PerfBitTextPoke      uint64 = 1 << 33
	PerfBitBuildID       uint64 = 1 << 34
	PerfBitInheritThread uint64 = 1 << 35
	PerfBitRemoveOnExec  uint64 = 1 << 36
	PerfBitSigtrap       uint64 = 1 << 37

	// PerfPreciseIPShift is the position of the 2-bit precise_ip field.
	PerfPreciseIPShift = 15
)

// perf_event_mmap_page.capabilities bits (absent from x/sys).
const (
	PerfCapBit0IsDeprecated uint64 = 1 << 1
	PerfCapUserRdpmc        uint64 = 1 << 2
	PerfCapUserTime         uint64 = 1 << 3
	PerfCapUserTimeZero     uint64 = 1 << 4
	PerfCapUserTimeShort    uint64 = 1 << 5
)

// read_format bits.
const (
	PERF_FORMAT_TOTAL_TIME_ENABLED = unix.PERF_FORMAT_TOTAL_TIME_ENABLED
	PERF_FORMAT_TOTAL_TIME_RUNNING = unix.PERF_FORMAT_TOTAL_TIME_RUNNING
	PERF_FORMAT_ID                 = unix.PERF_FORMAT_ID
	PERF_FORMAT_GROUP              = unix.PERF_FORMAT_GROUP
	PERF_FORMAT_LOST               = unix.PERF_FORMAT_LOST
	PERF_FORMAT_MAX                = unix.PERF_FORMAT_MAX
)

// sample_type bits.
const (
	PERF_SAMPLE_IP             = unix.PERF_SAMPLE_IP
	PERF_SAMPLE_TID            = unix.PERF_SAMPLE_TID
	PERF_SAMPLE_TIME           = unix.PERF_SAMPLE_TIME
	PERF_SAMPLE_ADDR           = unix.PERF_SAMPLE_ADDR
	PERF_SAMPLE_READ           = unix.PERF_SAMPLE_READ
	PERF_SAMPLE_CALLCHAIN      = unix.PERF_SAMPLE_CALLCHAIN
	PERF_SAMPLE_ID             = unix.PERF_SAMPLE_ID
	PERF_SAMPLE_CPU            = unix.PERF_SAMPLE_CPU
	PERF_SAMPLE_PERIOD         = unix.PERF_SAMPLE_PERIOD
	PERF_SAMPLE_STREAM_ID      = unix.PERF_SAMPLE_STREAM_ID
	PERF_SAMPLE_RAW            = unix.PERF_SAMPLE_RAW
	PERF_SAMPLE_BRANCH_STACK   = unix.PERF_SAMPLE_BRANCH_STACK
	PERF_SAMPLE_REGS_USER      = unix.PERF_SAMPLE_REGS_USER
	PERF_SAMPLE_STACK_USER     = unix.PERF_SAMPLE_STACK_USER
	PERF_SAMPLE_WEIGHT         = unix.PERF_SAMPLE_WEIGHT
	PERF_SAMPLE_DATA_SRC       = unix.PERF_SAMPLE_DATA_SRC
	PERF_SAMPLE_IDENTIFIER     = unix.PERF_SAMPLE_IDENTIFIER
	PERF_SAMPLE_TRANSACTION    = unix.PERF_SAMPLE_TRANSACTION
	PERF_SAMPLE_REGS_INTR      = unix.PERF_SAMPLE_REGS_INTR
	PERF_SAMPLE_PHYS_ADDR      = unix.PERF_SAMPLE_PHYS_ADDR
	PERF_SAMPLE_AUX            = unix.PERF_SAMPLE_AUX
	PERF_SAMPLE_CGROUP         = unix.PERF_SAMPLE_CGROUP
	PERF_SAMPLE_DATA_PAGE_SIZE = unix.PERF_SAMPLE_DATA_PAGE_SIZE
	PERF_SAMPLE_CODE_PAGE_SIZE = unix.PERF_SAMPLE_CODE_PAGE_SIZE
	PERF_SAMPLE_WEIGHT_STRUCT  = unix.PERF_SAMPLE_WEIGHT_STRUCT
	PERF_SAMPLE_MAX            = unix.PERF_SAMPLE_MAX
)

// Record types and misc bits of struct perf_event_header.
const (
	PERF_RECORD_MMAP         = unix.PERF_RECORD_MMAP
	PERF_RECORD_LOST         = unix.PERF_RECORD_LOST
	PERF_RECORD_COMM         = unix.PERF_RECORD_COMM
	PERF_RECORD_EXIT         = unix.PERF_RECORD_EXIT
	PERF_RECORD_THROTTLE     = unix.PERF_RECORD_THROTTLE
	PERF_RECORD_UNTHROTTLE   = unix.PERF_RECORD_UNTHROTTLE
	PERF_RECORD_FORK         = unix.PERF_RECORD_FORK
	PERF_RECORD_SAMPLE       = unix.PERF_RECORD_SAMPLE
	PERF_RECORD_MMAP2        = unix.PERF_RECORD_MMAP2
	PERF_RECORD_LOST_SAMPLES = unix.PERF_RECORD_LOST_SAMPLES

	PERF_RECORD_MISC_CPUMODE_MASK  = unix.PERF_RECORD_MISC_CPUMODE_MASK
	PERF_RECORD_MISC_KERNEL        = unix.PERF_RECORD_MISC_KERNEL
	PERF_RECORD_MISC_USER          = unix.PERF_RECORD_MISC_USER
	PERF_RECORD_MISC_HYPERVISOR    = unix.PERF_RECORD_MISC_HYPERVISOR
	PERF_RECORD_MISC_GUEST_KERNEL  = unix.PERF_RECORD_MISC_GUEST_KERNEL
	PERF_RECORD_MISC_GUEST_USER    = unix.PERF_RECORD_MISC_GUEST_USER
	PERF_RECORD_MISC_MMAP_BUILD_ID = unix.PERF_RECORD_MISC_MMAP_BUILD_ID
	PERF_RECORD_MISC_COMM_EXEC     = unix.PERF_RECORD_MISC_COMM_EXEC
	PERF_RECORD_MISC_EXACT_IP      = unix.PERF_RECORD_MISC_EXACT_IP

	PERF_CONTEXT_MAX = unix.PERF_CONTEXT_MAX
)

// ioctls on perf fds and perf_event_open flags.
const (
	PERF_EVENT_IOC_ENABLE  = unix.PERF_EVENT_IOC_ENABLE
	PERF_EVENT_IOC_DISABLE = unix.PERF_EVENT_IOC_DISABLE
	PERF_EVENT_IOC_RESET   = unix.PERF_EVENT_IOC_RESET
	PERF_EVENT_IOC_ID      = unix.PERF_EVENT_IOC_ID
	PERF_IOC_FLAG_GROUP    = unix.PERF_IOC_FLAG_GROUP

	PERF_FLAG_FD_CLOEXEC = unix.PERF_FLAG_FD_CLOEXEC
)

// Poll and eventfd, for blocking on a sampling ring.
const (
	POLLIN        = unix.POLLIN
	POLLHUP       = unix.POLLHUP
	POLLERR       = unix.POLLERR
	POLLNVAL      = unix.POLLNVAL
	EFD_CLOEXEC   = unix.EFD_CLOEXEC
	EFD_NONBLOCK  = unix.EFD_NONBLOCK
	RLIMIT_NOFILE = unix.RLIMIT_NOFILE
)

// waitid(2) on a pidfd, for waiting on a launched command.
const (
	P_PID   = unix.P_PID
	P_PIDFD = unix.P_PIDFD
	WEXITED = unix.WEXITED
	WNOHANG = unix.WNOHANG
	WNOWAIT = unix.WNOWAIT
)
