package profiler

// Sample is one overflow of the sampled counter, in a form both sources
// produce: perf SAMPLE records natively, virtual PMIs in the vpmu
// hypervisor.
type Sample struct {
	// IP is the instruction pointer at the overflow: the leaf frame.
	IP uint64
	// Stack holds the return addresses of the callers, innermost first:
	// perf's PERF_SAMPLE_CALLCHAIN without its PERF_CONTEXT_* markers
	// and without its first entry when that repeats IP (see
	// [CallchainStack]), or the frame-pointer walk the VMM makes in
	// guest memory. A zero address ends the stack.
	Stack []uint64
	// PID and TID are the process and thread (guest ids inside a VM).
	PID, TID int
	// Comm is the thread's command name when the source knows it; when
	// empty the name from COMM events is used.
	Comm string
	// CPU is the host CPU (inside the VM: the PCPU slot) and VCPU the
	// virtual CPU the thread ran on; -1 when unknown or not applicable.
	CPU, VCPU int
	// VM names the virtual machine, "" for native samples.
	VM string
	// Period is the number of events this sample stands for (perf's
	// PERF_SAMPLE_PERIOD, which varies in frequency mode). 0 means the
	// builder's configured period.
	Period uint64
	// Time is the sample's timestamp in nanoseconds on the source's
	// clock (perf_clock, the VMM's TSC-derived clock), 0 when unknown.
	Time uint64
}

// Event is one record of a [Stream]: *Sample, *MmapEvent, *CommEvent,
// *ForkEvent, *ExitEvent or *LostEvent.
type Event interface {
	// time returns the event's timestamp, 0 when unknown.
	time() uint64
	// clone copies the event and the slices it holds.
	clone() Event
}

// MmapEvent says a process mapped a region (perf PERF_RECORD_MMAP2 or
// MMAP, or the VMM loading a guest program or library).
type MmapEvent struct {
	VM       string
	PID, TID int
	Mapping  Mapping
	// Time is when it happened, on the samples' clock (perf's
	// sample_id_all trailer), 0 when unknown; likewise in the other
	// events.
	Time uint64
}

// CommEvent says a thread got a new name (perf PERF_RECORD_COMM). Exec is
// set when the name changed because the process called execve
// (PERF_RECORD_MISC_COMM_EXEC): its old mappings are gone.
type CommEvent struct {
	VM       string
	PID, TID int
	Comm     string
	Exec     bool
	Time     uint64
}

// ForkEvent says thread TID of process PID was created by thread PTID of
// process PPID (perf PERF_RECORD_FORK). PID == PPID for a new thread.
type ForkEvent struct {
	VM                   string
	PID, PPID, TID, PTID int
	Time                 uint64
}

// ExitEvent says a thread exited (perf PERF_RECORD_EXIT).
type ExitEvent struct {
	VM                   string
	PID, PPID, TID, PTID int
	Time                 uint64
}

// LostEvent says the source dropped Count samples (perf PERF_RECORD_LOST
// or LOST_SAMPLES: the ring buffer was full).
type LostEvent struct {
	Count uint64
	Time  uint64
}

func (e *Sample) time() uint64    { return e.Time }
func (e *MmapEvent) time() uint64 { return e.Time }
func (e *CommEvent) time() uint64 { return e.Time }
func (e *ForkEvent) time() uint64 { return e.Time }
func (e *ExitEvent) time() uint64 { return e.Time }
func (e *LostEvent) time() uint64 { return e.Time }

func (e *Sample) clone() Event {
	c := *e
	c.Stack = append([]uint64(nil), e.Stack...)
	return &c
}
func (e *MmapEvent) clone() Event { c := *e; return &c }
func (e *CommEvent) clone() Event { c := *e; return &c }
func (e *ForkEvent) clone() Event { c := *e; return &c }
func (e *ExitEvent) clone() Event { c := *e; return &c }
func (e *LostEvent) clone() Event { c := *e; return &c }

// perfContextMax is PERF_CONTEXT_MAX ((u64)-4095): callchain entries at or
// above it are context markers (PERF_CONTEXT_KERNEL, _USER, _GUEST, ...),
// not addresses.
const perfContextMax uint64 = 1<<64 - 4095

// CallchainStack turns perf's PERF_SAMPLE_CALLCHAIN into Sample.Stack:
// it drops the context markers and the first address when it is the
// sample's IP (perf puts the interrupted IP first). The result is
// appended to dst.
func CallchainStack(dst []uint64, ip uint64, chain []uint64) []uint64 {
	first := true
	for _, a := range chain {
		if a >= perfContextMax {
			continue
		}
		if first {
			first = false
			if a == ip {
				continue
			}
		}
		dst = append(dst, a)
	}
	return dst
}
