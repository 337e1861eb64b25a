package hypervisor

import (
	"encoding/binary"
	"fmt"
)

// Signals as the guest sees them: numbers, sets, actions and siginfo,
// with the x86-64 Linux ABI encodings (include/uapi/asm-generic/signal.h,
// arch/x86/include/uapi/asm/signal.h, include/uapi/asm-generic/siginfo.h).
// Everything here is pure; signal_state.go holds the per-process and
// per-thread state, signal_deliver.go the delivery.

// Signal numbers of x86-64 Linux.
const (
	sigHUP    = 1
	sigINT    = 2
	sigQUIT   = 3
	sigILL    = 4
	sigTRAP   = 5
	sigABRT   = 6
	sigBUS    = 7
	sigFPE    = 8
	sigKILL   = 9
	sigUSR1   = 10
	sigSEGV   = 11
	sigUSR2   = 12
	sigPIPE   = 13
	sigALRM   = 14
	sigTERM   = 15
	sigSTKFLT = 16
	sigCHLD   = 17
	sigCONT   = 18
	sigSTOP   = 19
	sigTSTP   = 20
	sigTTIN   = 21
	sigTTOU   = 22
	sigURG    = 23
	sigXCPU   = 24
	sigXFSZ   = 25
	sigVTALRM = 26
	sigPROF   = 27
	sigWINCH  = 28
	sigIO     = 29
	sigPWR    = 30
	sigSYS    = 31
	sigRTMIN  = 32

	numSignals = 64
	sigsetSize = 8 // the kernel's sigset_t: one 64-bit word
)

// sigset is a set of signals; bit sig-1 stands for sig.
type sigset uint64

func sigmask(sig int) sigset { return 1 << (sig - 1) }

func (s sigset) has(sig int) bool { return s&sigmask(sig) != 0 }

// unblockable are the signals no mask can block.
const unblockable = sigset(1<<(sigKILL-1) | 1<<(sigSTOP-1))

// synchronousSignals are dequeued first, as Linux's SYNCHRONOUS_MASK, so
// that a fault's signal is handled before anything else pending.
const synchronousSignals = sigset(1<<(sigSEGV-1) | 1<<(sigBUS-1) | 1<<(sigILL-1) |
	1<<(sigTRAP-1) | 1<<(sigFPE-1) | 1<<(sigSYS-1))

// lowest returns the signal to take first from s (synchronous ones
// before the rest, then the lowest number), or 0 if s is empty.
func (s sigset) lowest() int {
	if s == 0 {
		return 0
	}
	if sync := s & synchronousSignals; sync != 0 {
		s = sync
	}
	for sig := 1; sig <= numSignals; sig++ {
		if s.has(sig) {
			return sig
		}
	}
	return 0
}

// validSignal reports whether sig is a signal number (1..64).
func validSignal(sig int) bool { return sig >= 1 && sig <= numSignals }

// isRealtime reports whether sig is a real-time signal, which queues
// every instance; standard signals (1-31) pend at most once.
func isRealtime(sig int) bool { return sig >= sigRTMIN }

// defaultAction is what SIG_DFL does with a signal.
type defaultAction int

const (
	actTerminate defaultAction = iota
	actCore                    // terminate "with a core dump": the same exit status here
	actIgnore
	actStop // SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: the VMM has no job control; see sigDefault
)

// sigDefault returns SIG_DFL's action for sig (signal(7)). The stop
// signals have no stopped state to enter (no parent process waits for
// the guest, nothing could continue it), so delivery treats them like
// SIGCONT: ignored.
func sigDefault(sig int) defaultAction {
	switch sig {
	case sigQUIT, sigILL, sigTRAP, sigABRT, sigBUS, sigFPE, sigSEGV, sigXCPU, sigXFSZ, sigSYS:
		return actCore
	case sigCHLD, sigCONT, sigURG, sigWINCH:
		return actIgnore
	case sigSTOP, sigTSTP, sigTTIN, sigTTOU:
		return actStop
	default:
		return actTerminate
	}
}

// Handler values and sa_flags (arch/x86/include/uapi/asm/signal.h).
const (
	sigDFL = 0
	sigIGN = 1

	saNoCldStop    = 0x00000001
	saNoCldWait    = 0x00000002
	saSiginfo      = 0x00000004
	saUnsupported  = 0x00000400
	saExposeTagbit = 0x00000800
	saRestorer     = 0x04000000
	saOnstack      = 0x08000000
	saRestart      = 0x10000000
	saNodefer      = 0x40000000
	saResethand    = 0x80000000

	// saKnown are the flags rt_sigaction keeps (UAPI_SA_FLAGS): unknown
	// bits, SA_UNSUPPORTED included, read back as zero, which is how
	// programs probe for flag support.
	saKnown = saNoCldStop | saNoCldWait | saSiginfo | saOnstack | saRestart |
		saNodefer | saResethand | saExposeTagbit | saRestorer
)

// sigaction is the kernel's struct sigaction on x86-64: handler, flags,
// restorer, mask; 32 bytes.
type sigaction struct {
	handler  uint64
	flags    uint64
	restorer uint64
	mask     sigset
}

const sigactionSize = 32

func decodeSigaction(b []byte) sigaction {
	le := binary.LittleEndian
	return sigaction{
		handler:  le.Uint64(b[0:]),
		flags:    le.Uint64(b[8:]),
		restorer: le.Uint64(b[16:]),
		mask:     sigset(le.Uint64(b[24:])),
	}
}

func (a sigaction) encode() []byte {
	b := make([]byte, sigactionSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], a.handler)
	le.PutUint64(b[8:], a.flags)
	le.PutUint64(b[16:], a.restorer)
	le.PutUint64(b[24:], uint64(a.mask))
	return b
}

// ignores reports whether delivering sig under action a does nothing:
// SIG_IGN, or SIG_DFL of a signal whose default is to be ignored.
func (a sigaction) ignores(sig int) bool {
	if a.handler == sigIGN {
		return true
	}
	if a.handler != sigDFL {
		return false
	}
	d := sigDefault(sig)
	return d == actIgnore || d == actStop
}

// fatal reports whether delivering sig under action a ends the process.
func (a sigaction) fatal(sig int) bool {
	if sig == sigKILL {
		return true
	}
	if a.handler != sigDFL {
		return false
	}
	d := sigDefault(sig)
	return d == actTerminate || d == actCore
}

// si_code values (include/uapi/asm-generic/siginfo.h).
const (
	siUser    = 0
	siKernel  = 0x80
	siQueue   = -1
	siTimer   = -2
	siMesgq   = -3
	siAsyncio = -4
	siSigio   = -5
	siTkill   = -6

	illIllopn  = 2
	fpeIntdiv  = 1
	fpeIntovf  = 2
	fpeFltdiv  = 3
	fpeFltovf  = 4
	fpeFltund  = 5
	fpeFltres  = 6
	fpeFltinv  = 7
	segvMaperr = 1
	segvAccerr = 2
	busAdraln  = 1
	trapBrkpt  = 1
	trapTrace  = 2
)

// siginfo is the kernel's siginfo_t, 128 bytes. The union after the
// first three ints starts at offset 16; the kind of signal decides which
// fields it holds:
//
//	kill, tkill, sigqueue:  pid (+16), uid (+20), value (+24)
//	POSIX timers (SI_TIMER): timerid (+16), overrun (+20), value (+24)
//	faults:                 addr (+16)
//
// A timer's signal keeps the timer id in pid and the overrun in uid,
// which sit where si_tid and si_overrun are; timer and timerGen name the
// timer and the setting that sent it, so that dequeuing it can rearm the
// timer and fill in the overrun (timer_posix.go).
// raw keeps a siginfo that came from the guest (rt_sigqueueinfo) whole.
type siginfo struct {
	signo, errno, code int32
	pid, uid           uint32
	value              uint64
	addr               uint64
	raw                *[siginfoSize]byte
	timer              *posixTimer
	timerGen           uint64
}

const siginfoSize = 128

// Offsets in siginfo_t.
const (
	siOffSigno = 0
	siOffErrno = 4
	siOffCode  = 8
	siOffPid   = 16
	siOffUID   = 20
	siOffValue = 24
	siOffAddr  = 16
)

// isFault reports whether the siginfo describes a fault (si_addr layout).
func (si *siginfo) isFault() bool {
	switch si.signo {
	case sigSEGV, sigBUS, sigILL, sigFPE, sigTRAP:
		return si.code > 0 && si.code != siKernel
	}
	return false
}

// encode lays the siginfo out as siginfo_t.
func (si *siginfo) encode() []byte {
	b := make([]byte, siginfoSize)
	if si.raw != nil {
		copy(b, si.raw[:])
	}
	le := binary.LittleEndian
	le.PutUint32(b[siOffSigno:], uint32(si.signo))
	if si.raw != nil {
		return b
	}
	le.PutUint32(b[siOffErrno:], uint32(si.errno))
	le.PutUint32(b[siOffCode:], uint32(si.code))
	if si.isFault() {
		le.PutUint64(b[siOffAddr:], si.addr)
		return b
	}
	le.PutUint32(b[siOffPid:], si.pid)
	le.PutUint32(b[siOffUID:], si.uid)
	le.PutUint64(b[siOffValue:], si.value)
	return b
}

// decodeSiginfo reads a siginfo_t a guest passed to rt_sigqueueinfo,
// keeping it whole.
func decodeSiginfo(b []byte) siginfo {
	le := binary.LittleEndian
	raw := new([siginfoSize]byte)
	copy(raw[:], b)
	return siginfo{
		signo: int32(le.Uint32(b[siOffSigno:])),
		errno: int32(le.Uint32(b[siOffErrno:])),
		code:  int32(le.Uint32(b[siOffCode:])),
		pid:   le.Uint32(b[siOffPid:]),
		uid:   le.Uint32(b[siOffUID:]),
		value: le.Uint64(b[siOffValue:]),
		raw:   raw,
	}
}

var signalNames = [...]string{
	sigHUP: "SIGHUP", sigINT: "SIGINT", sigQUIT: "SIGQUIT", sigILL: "SIGILL", sigTRAP: "SIGTRAP",
	sigABRT: "SIGABRT", sigBUS: "SIGBUS", sigFPE: "SIGFPE", sigKILL: "SIGKILL", sigUSR1: "SIGUSR1",
	sigSEGV: "SIGSEGV", sigUSR2: "SIGUSR2", sigPIPE: "SIGPIPE", sigALRM: "SIGALRM", sigTERM: "SIGTERM",
	sigSTKFLT: "SIGSTKFLT", sigCHLD: "SIGCHLD", sigCONT: "SIGCONT", sigSTOP: "SIGSTOP", sigTSTP: "SIGTSTP",
	sigTTIN: "SIGTTIN", sigTTOU: "SIGTTOU", sigURG: "SIGURG", sigXCPU: "SIGXCPU", sigXFSZ: "SIGXFSZ",
	sigVTALRM: "SIGVTALRM", sigPROF: "SIGPROF", sigWINCH: "SIGWINCH", sigIO: "SIGIO", sigPWR: "SIGPWR",
	sigSYS: "SIGSYS",
}

// signalName returns the conventional name of sig ("SIGSEGV", "SIGRTMIN+3").
func signalName(sig int) string {
	switch {
	case sig > 0 && sig < len(signalNames):
		return signalNames[sig]
	case sig == sigRTMIN:
		return "SIGRTMIN"
	case sig > sigRTMIN && sig <= numSignals:
		return fmt.Sprintf("SIGRTMIN+%d", sig-sigRTMIN)
	default:
		return fmt.Sprintf("signal %d", sig)
	}
}
