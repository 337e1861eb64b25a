package perfevent

import (
	"errors"
	"fmt"
	"os"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// ErrClosed is returned by operations on a closed Counter, Sampler or
// Stopped command.
var ErrClosed = errors.New("perfevent: closed")

// OpenError is a perf_event_open failure that is not about the event
// being unsupported: the target does not exist, the process ran out of
// file descriptors, the attribute struct has the wrong size.
type OpenError struct {
	// Event is the event as written.
	Event string
	// PID and CPU are the target passed to perf_event_open.
	PID, CPU int
	// Reason says what went wrong, in words.
	Reason string
	// Err is the *os.SyscallError ("perf_event_open: ...") wrapping the
	// errno.
	Err error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("open event %q (pid %d, cpu %d): %s (%v)", e.Event, e.PID, e.CPU, e.Reason, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// diagnose turns a perf_event_open errno into an error that names the
// event, the syscall and the most likely cause. Unsupported events give a
// *pmu.NotSupportedError; the rest an *OpenError.
func diagnose(e pmu.Event, a *unix.PerfEventAttr, t pmu.Target, errno error, h host) error {
	name := e.String()
	sysErr := os.NewSyscallError("perf_event_open", errno)
	notSupported := func(reason string) error {
		return &pmu.NotSupportedError{Event: name, Reason: reason, Err: sysErr}
	}
	openErr := func(reason string) error {
		return &OpenError{Event: name, PID: t.PID, CPU: t.CPU, Reason: reason, Err: sysErr}
	}
	var no unix.Errno
	if !errors.As(errno, &no) {
		return openErr("unexpected error")
	}
	switch no {
	case unix.ENOENT, unix.EOPNOTSUPP, unix.ENODEV:
		return notSupported(unsupportedReason(e, a, t, no, h))
	case unix.EACCES, unix.EPERM:
		return notSupported(permissionReason(e, t, no, h))
	case unix.EINVAL:
		reason, isTarget := invalidReason(e, a, t, h)
		if isTarget {
			return openErr(reason)
		}
		return notSupported(reason)
	case unix.EBUSY:
		return notSupported("the PMU is busy: another exclusive or pinned event (perhaps the NMI watchdog) holds the counters")
	case unix.ESRCH:
		return openErr(fmt.Sprintf("thread %d does not exist (or has exited)", t.PID))
	case unix.EMFILE:
		var lim unix.Rlimit
		limit := "unknown"
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
			limit = fmt.Sprint(lim.Cur)
		}
		return openErr("too many open files: RLIMIT_NOFILE is " + limit + "; each event of each thread needs one fd")
	case unix.E2BIG:
		return openErr(fmt.Sprintf("the kernel does not accept perf_event_attr size %d (it expects %d)", unix.PerfEventAttrSize, a.Size))
	case unix.EBADF:
		return openErr("bad group leader fd")
	}
	return openErr("perf_event_open failed")
}

// unsupportedReason explains ENOENT, EOPNOTSUPP and ENODEV.
func unsupportedReason(e pmu.Event, a *unix.PerfEventAttr, t pmu.Target, no unix.Errno, h host) string {
	switch e.Kind {
	case pmu.KindHardware, pmu.KindHWCache, pmu.KindRaw:
		if ok, why := h.hardwarePMU(); !ok {
			return why
		}
		if no == unix.EOPNOTSUPP && a.Sample != 0 {
			return "the CPU's PMU cannot sample this event (no overflow interrupt)"
		}
		return fmt.Sprintf("the CPU's PMU does not implement this event (type %d, config %#x)", a.Type, a.Config)
	case pmu.KindPMU:
		if e.PMU != "" && !h.pmuExists(e.PMU) {
			return fmt.Sprintf("PMU %q is not registered on this machine", e.PMU)
		}
		if no == unix.EOPNOTSUPP {
			if a.Sample != 0 {
				return fmt.Sprintf("PMU %q cannot sample (no overflow interrupt); count it instead", e.PMU)
			}
			if a.Bits&(unix.PerfBitExcludeUser|unix.PerfBitExcludeKernel|unix.PerfBitExcludeHv|unix.PerfBitExcludeIdle|unix.PerfBitExcludeGuest|unix.PerfBitExcludeHost) != 0 {
				return fmt.Sprintf("PMU %q cannot filter by privilege level; drop the modifiers", e.PMU)
			}
			if t.PID != -1 {
				return fmt.Sprintf("PMU %q cannot count per thread; count a CPU instead", e.PMU)
			}
		}
		return fmt.Sprintf("PMU %q (type %d) does not accept config %#x", e.PMU, a.Type, a.Config)
	case pmu.KindSoftware:
		if no == unix.EOPNOTSUPP && a.Sample != 0 {
			return "this software event cannot sample"
		}
		return fmt.Sprintf("the kernel does not implement software event %d", a.Config)
	}
	return fmt.Sprintf("the kernel does not know event type %d config %#x", a.Type, a.Config)
}

// permissionReason explains EACCES and EPERM from the paranoid level and
// capabilities.
func permissionReason(e pmu.Event, t pmu.Target, no unix.Errno, h host) string {
	level, perr := h.paranoid()
	capable, cerr := h.perfCapable()
	if perr != nil {
		return fmt.Sprintf("permission denied, and perf_event_paranoid is unreadable (%v)", perr)
	}
	if cerr == nil && capable {
		if no == unix.EPERM {
			return "denied although the process has CAP_PERFMON: perf_event_open is blocked by a seccomp filter (containers' default profiles block it) or by kernel lockdown"
		}
		return "denied although the process has CAP_PERFMON: a security module (SELinux, AppArmor, lockdown) forbids it"
	}
	r := level.Restriction(e, t)
	switch {
	case r == "" && t.PID > 0:
		r = fmt.Sprintf("%s; thread %d may belong to another user (ptrace access is required)", level.Explain(), t.PID)
	case r == "":
		r = level.Explain()
	}
	r += "; the process lacks CAP_PERFMON"
	if no == unix.EPERM {
		r += " (EPERM can also come from a seccomp filter)"
	}
	return r
}

// invalidReason names the attribute most likely refused with EINVAL.
// isTarget is true when the fault is the (pid, cpu) target rather than
// the event.
func invalidReason(e pmu.Event, a *unix.PerfEventAttr, t pmu.Target, h host) (reason string, isTarget bool) {
	if n := h.possibleCPUs(); t.CPU >= 0 && n > 0 && t.CPU >= n {
		return fmt.Sprintf("cpu %d does not exist (cpus 0-%d)", t.CPU, n-1), true
	}
	if t.PID == -1 && t.CPU == -1 {
		return "a counter needs a thread, a CPU or both", true
	}
	if a.Bits&unix.PerfBitFreq != 0 {
		if max, err := h.maxSampleRate(); err == nil && a.Sample > uint64(max) {
			return fmt.Sprintf("sample frequency %d Hz exceeds kernel.perf_event_max_sample_rate %d", a.Sample, max), false
		}
	}
	if a.Bits&unix.PerfBitInherit != 0 && a.Sample_type&unix.PERF_SAMPLE_READ != 0 {
		return "inherit together with PERF_SAMPLE_READ is refused by this kernel", false
	}
	if a.Bits&unix.PerfBitInherit != 0 && a.Read_format&unix.PERF_FORMAT_GROUP != 0 {
		return "inherit together with PERF_FORMAT_GROUP is refused by this kernel", false
	}
	if a.Read_format >= unix.PERF_FORMAT_MAX {
		return fmt.Sprintf("read_format %#x has bits this kernel does not know", a.Read_format), false
	}
	if a.Sample_type >= unix.PERF_SAMPLE_MAX {
		return fmt.Sprintf("sample_type %#x has bits this kernel does not know", a.Sample_type), false
	}
	hw := e.Kind == pmu.KindHardware || e.Kind == pmu.KindHWCache || e.Kind == pmu.KindRaw || e.Kind == pmu.KindPMU
	if p := preciseOf(a.Bits); hw && p > 0 {
		return fmt.Sprintf("precise_ip=%d (:%s) is not supported by this PMU or event; use fewer :p", p, pp(p)), false
	}
	if hw && a.Bits&(unix.PerfBitExcludeGuest|unix.PerfBitExcludeHost) != 0 {
		return "exclude_guest/exclude_host (:H/:G) are not supported by this PMU", false
	}
	if a.Ext1 != 0 || a.Ext2 != 0 {
		return fmt.Sprintf("config1 %#x / config2 %#x are not valid for this PMU", a.Ext1, a.Ext2), false
	}
	if a.Type == unix.PERF_TYPE_BREAKPOINT {
		return "breakpoint events need bp_type, bp_addr and bp_len, which an event spec cannot carry", false
	}
	return fmt.Sprintf("the kernel rejected the attributes (type %d, config %#x)", a.Type, a.Config), false
}

func pp(n uint8) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'p'
	}
	return string(b)
}
