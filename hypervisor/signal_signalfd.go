package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// The pure half of signalfd (fs/signalfd.c): its flags, the validation
// of signalfd4's arguments, and struct signalfd_siginfo, the 128 bytes a
// read returns per signal (include/uapi/linux/signalfd.h). The file and
// the system calls are in syscall_signalfd.go.

// signalfd4 flags: the open file's O_NONBLOCK and the fd's FD_CLOEXEC.
const (
	sfdCloexec  = unix.O_CLOEXEC
	sfdNonblock = unix.O_NONBLOCK
)

// siOffUnion is where the union of siginfo_t starts.
const siOffUnion = 16

// signalfdInfoSize is sizeof(struct signalfd_siginfo).
const signalfdInfoSize = 128

// Offsets in struct signalfd_siginfo.
const (
	sfdOffSigno    = 0
	sfdOffErrno    = 4
	sfdOffCode     = 8
	sfdOffPid      = 12
	sfdOffUID      = 16
	sfdOffFd       = 20
	sfdOffTid      = 24
	sfdOffBand     = 28
	sfdOffOverrun  = 32
	sfdOffTrapno   = 36
	sfdOffStatus   = 40
	sfdOffInt      = 44
	sfdOffPtr      = 48
	sfdOffUtime    = 56
	sfdOffStime    = 64
	sfdOffAddr     = 72
	sfdOffAddrLsb  = 80
	sfdOffSyscall  = 84
	sfdOffCallAddr = 88
	sfdOffArch     = 96
)

// signalfdArgs checks what signalfd4 checks before it looks at the fd,
// in the kernel's order: sizemask must be sizeof(sigset_t) (EINVAL), and
// flags only SFD_CLOEXEC and SFD_NONBLOCK (EINVAL). The mask itself was
// read in between (EFAULT); SIGKILL and SIGSTOP are silently taken out
// of it.
func signalfdArgs(mask sigset, sizemask uint64, flags int) (sigset, error) {
	if sizemask != sigsetSize {
		return 0, unix.EINVAL
	}
	if flags&^(sfdCloexec|sfdNonblock) != 0 {
		return 0, unix.EINVAL
	}
	return mask &^ unblockable, nil
}

// siginfoLayout is which union member of siginfo_t a signal uses
// (kernel/signal.c: siginfo_layout).
type siginfoLayout int

const (
	silKill siginfoLayout = iota
	silTimer
	silPoll
	silFault
	silFaultMceerr
	silChld
	silRT
	silSys
)

// si_code limits of the signals with their own codes (NSIGILL ...), as
// in Linux 6.6 and later (NSIGSEGV 10: SEGV_CPERR).
var sigCodeLimits = map[int32]struct {
	limit  int32
	layout siginfoLayout
}{
	sigILL:  {11, silFault},
	sigFPE:  {15, silFault},
	sigSEGV: {10, silFault},
	sigBUS:  {5, silFault},
	sigTRAP: {6, silFault},
	sigCHLD: {6, silChld},
	sigIO:   {6, silPoll}, // SIGPOLL
	sigSYS:  {2, silSys},
}

const (
	busMceerrAR = 4
	busMceerrAO = 5
	nsigPoll    = 6
)

// layoutOf returns the layout of a siginfo with this signal and code, as
// siginfo_layout does on x86-64. Every input gives some layout.
func layoutOf(sig, code int32) siginfoLayout {
	if code > siUser && code < siKernel {
		if l, ok := sigCodeLimits[sig]; ok && code <= l.limit {
			if sig == sigBUS && code >= busMceerrAR && code <= busMceerrAO {
				return silFaultMceerr
			}
			// SEGV_BNDERR, SEGV_PKUERR and TRAP_PERF have extra
			// fields, but signalfd reads only si_addr of them.
			return l.layout
		}
		if code <= nsigPoll {
			return silPoll
		}
		return silKill
	}
	switch {
	case code == siTimer:
		return silTimer
	case code == siSigio:
		return silPoll
	case code < 0:
		return silRT
	}
	return silKill
}

// encodeSignalfdInfo turns a siginfo_t (128 bytes, as siginfo.encode
// lays it out) into the struct signalfd_siginfo a read returns, filling
// the fields signalfd_copyinfo fills for its layout and zeroing the rest.
func encodeSignalfdInfo(si []byte) []byte {
	le := binary.LittleEndian
	out := make([]byte, signalfdInfoSize)
	sig, code := int32(le.Uint32(si[siOffSigno:])), int32(le.Uint32(si[siOffCode:]))
	le.PutUint32(out[sfdOffSigno:], uint32(sig))
	le.PutUint32(out[sfdOffErrno:], le.Uint32(si[siOffErrno:]))
	le.PutUint32(out[sfdOffCode:], uint32(code))
	// The union of siginfo_t.
	u32 := func(off int) uint32 { return le.Uint32(si[siOffUnion+off:]) }
	u64 := func(off int) uint64 { return le.Uint64(si[siOffUnion+off:]) }
	switch layoutOf(sig, code) {
	case silKill:
		le.PutUint32(out[sfdOffPid:], u32(0))
		le.PutUint32(out[sfdOffUID:], u32(4))
	case silTimer:
		// si_tid, si_overrun, si_value.
		le.PutUint32(out[sfdOffTid:], u32(0))
		le.PutUint32(out[sfdOffOverrun:], u32(4))
		le.PutUint64(out[sfdOffPtr:], u64(8))
		le.PutUint32(out[sfdOffInt:], u32(8))
	case silPoll:
		// si_band (long), si_fd; ssi_band keeps the low 32 bits.
		le.PutUint32(out[sfdOffBand:], u32(0))
		le.PutUint32(out[sfdOffFd:], u32(8))
	case silFault:
		le.PutUint64(out[sfdOffAddr:], u64(0))
	case silFaultMceerr:
		le.PutUint64(out[sfdOffAddr:], u64(0))
		le.PutUint16(out[sfdOffAddrLsb:], le.Uint16(si[siOffUnion+8:]))
	case silChld:
		// si_pid, si_uid, si_status, si_utime, si_stime.
		le.PutUint32(out[sfdOffPid:], u32(0))
		le.PutUint32(out[sfdOffUID:], u32(4))
		le.PutUint32(out[sfdOffStatus:], u32(8))
		le.PutUint64(out[sfdOffUtime:], u64(16))
		le.PutUint64(out[sfdOffStime:], u64(24))
	case silRT:
		// si_pid, si_uid, si_value.
		le.PutUint32(out[sfdOffPid:], u32(0))
		le.PutUint32(out[sfdOffUID:], u32(4))
		le.PutUint64(out[sfdOffPtr:], u64(8))
		le.PutUint32(out[sfdOffInt:], u32(8))
	case silSys:
		// si_call_addr, si_syscall, si_arch.
		le.PutUint64(out[sfdOffCallAddr:], u64(0))
		le.PutUint32(out[sfdOffSyscall:], u32(8))
		le.PutUint32(out[sfdOffArch:], u32(12))
	}
	return out
}
