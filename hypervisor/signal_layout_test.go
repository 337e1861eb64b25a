package hypervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSigABIMatchesKernel compiles a C program against the kernel's
// uapi headers (linux-libc-dev) and compares every offset, size and
// constant of the signal, epoll and timer ABI the VMM encodes by hand.
func TestSigABIMatchesKernel(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("skipping: gcc not found: %v", err)
	}
	if _, err := os.Stat("/usr/include/asm-generic/ucontext.h"); err != nil {
		t.Skipf("skipping: no kernel uapi headers: %v", err)
	}
	checks := []struct {
		c    string // a C expression
		want int64
	}{
		{"offsetof(struct sigcontext, r8)", scR8}, {"offsetof(struct sigcontext, r9)", scR9},
		{"offsetof(struct sigcontext, r10)", scR10}, {"offsetof(struct sigcontext, r11)", scR11},
		{"offsetof(struct sigcontext, r12)", scR12}, {"offsetof(struct sigcontext, r13)", scR13},
		{"offsetof(struct sigcontext, r14)", scR14}, {"offsetof(struct sigcontext, r15)", scR15},
		{"offsetof(struct sigcontext, rdi)", scRDI}, {"offsetof(struct sigcontext, rsi)", scRSI},
		{"offsetof(struct sigcontext, rbp)", scRBP}, {"offsetof(struct sigcontext, rbx)", scRBX},
		{"offsetof(struct sigcontext, rdx)", scRDX}, {"offsetof(struct sigcontext, rax)", scRAX},
		{"offsetof(struct sigcontext, rcx)", scRCX}, {"offsetof(struct sigcontext, rsp)", scRSP},
		{"offsetof(struct sigcontext, rip)", scRIP}, {"offsetof(struct sigcontext, eflags)", scEflags},
		{"offsetof(struct sigcontext, cs)", scCS}, {"offsetof(struct sigcontext, gs)", scGS},
		{"offsetof(struct sigcontext, fs)", scFS}, {"offsetof(struct sigcontext, ss)", scSS},
		{"offsetof(struct sigcontext, err)", scErr}, {"offsetof(struct sigcontext, trapno)", scTrapno},
		{"offsetof(struct sigcontext, oldmask)", scOldmask}, {"offsetof(struct sigcontext, cr2)", scCR2},
		{"offsetof(struct sigcontext, fpstate)", scFpstate}, {"sizeof(struct sigcontext)", scSize},

		{"offsetof(struct ucontext, uc_flags)", ucFlags}, {"offsetof(struct ucontext, uc_link)", ucLink},
		{"offsetof(struct ucontext, uc_stack)", ucStack}, {"offsetof(struct ucontext, uc_mcontext)", ucMcontext},
		{"offsetof(struct ucontext, uc_sigmask)", ucSigmask}, {"sizeof(struct ucontext)", ucSize},
		{"offsetof(struct rt_sigframe, pretcode)", frPretcode}, {"offsetof(struct rt_sigframe, uc)", frUC},
		{"offsetof(struct rt_sigframe, info)", frInfo}, {"sizeof(struct rt_sigframe)", frSize},
		{"UC_FP_XSTATE", ucFPXstate}, {"UC_SIGCONTEXT_SS", ucSigcontextSS}, {"UC_STRICT_RESTORE_SS", ucStrictRestoreSS},

		{"sizeof(siginfo_t)", siginfoSize}, {"offsetof(siginfo_t, si_signo)", siOffSigno},
		{"offsetof(siginfo_t, si_errno)", siOffErrno}, {"offsetof(siginfo_t, si_code)", siOffCode},
		{"offsetof(siginfo_t, si_pid)", siOffPid}, {"offsetof(siginfo_t, si_uid)", siOffUID},
		{"offsetof(siginfo_t, si_value)", siOffValue}, {"offsetof(siginfo_t, si_addr)", siOffAddr},
		{"SI_USER", siUser}, {"SI_KERNEL", siKernel}, {"SI_QUEUE", siQueue}, {"SI_TIMER", siTimer},
		{"SI_MESGQ", siMesgq}, {"SI_ASYNCIO", siAsyncio}, {"SI_SIGIO", siSigio}, {"SI_TKILL", siTkill},
		{"ILL_ILLOPN", illIllopn}, {"FPE_INTDIV", fpeIntdiv}, {"FPE_INTOVF", fpeIntovf}, {"FPE_FLTDIV", fpeFltdiv},
		{"FPE_FLTOVF", fpeFltovf}, {"FPE_FLTUND", fpeFltund}, {"FPE_FLTRES", fpeFltres}, {"FPE_FLTINV", fpeFltinv},
		{"SEGV_MAPERR", segvMaperr}, {"SEGV_ACCERR", segvAccerr}, {"BUS_ADRALN", busAdraln},
		{"TRAP_BRKPT", trapBrkpt}, {"TRAP_TRACE", trapTrace},

		{"sizeof(struct sigaction)", sigactionSize}, {"offsetof(struct sigaction, sa_handler)", 0},
		{"offsetof(struct sigaction, sa_flags)", 8}, {"offsetof(struct sigaction, sa_restorer)", 16},
		{"offsetof(struct sigaction, sa_mask)", 24}, {"sizeof(sigset_t)", sigsetSize},
		{"SA_NOCLDSTOP", saNoCldStop}, {"SA_NOCLDWAIT", saNoCldWait}, {"SA_SIGINFO", saSiginfo},
		{"SA_RESTORER", saRestorer}, {"SA_ONSTACK", saOnstack}, {"SA_RESTART", saRestart},
		{"SA_NODEFER", saNodefer}, {"SA_RESETHAND", saResethand}, {"SA_UNSUPPORTED", saUnsupported},
		{"SA_EXPOSE_TAGBITS", saExposeTagbit},
		{"sizeof(stack_t)", stackTSize}, {"offsetof(stack_t, ss_sp)", 0}, {"offsetof(stack_t, ss_flags)", 8},
		{"offsetof(stack_t, ss_size)", 16}, {"SS_ONSTACK", ssOnstack}, {"SS_DISABLE", ssDisable},
		{"SS_AUTODISARM", ssAutodisarm}, {"MINSIGSTKSZ", minSigStkSz},
		{"SIGHUP", sigHUP}, {"SIGBUS", sigBUS}, {"SIGUSR1", sigUSR1}, {"SIGSTKFLT", sigSTKFLT},
		{"SIGCHLD", sigCHLD}, {"SIGCONT", sigCONT}, {"SIGSTOP", sigSTOP}, {"SIGURG", sigURG},
		{"SIGIO", sigIO}, {"SIGPWR", sigPWR}, {"SIGSYS", sigSYS}, {"SIGRTMIN", sigRTMIN},
		{"SIG_BLOCK", sigBlock}, {"SIG_UNBLOCK", sigUnblock}, {"SIG_SETMASK", sigSetmask},

		{"FP_XSTATE_MAGIC1", fpXstateMagic1}, {"FP_XSTATE_MAGIC2", fpXstateMagic2},
		{"FP_XSTATE_MAGIC2_SIZE", fpMagic2Size},
		{"offsetof(struct _fpstate_64, mxcsr)", fxMXCSR}, {"offsetof(struct _fpstate_64, mxcsr_mask)", fxMXCSRMask},
		{"offsetof(struct _fpstate_64, st_space)", fxSTOff}, {"offsetof(struct _fpstate_64, xmm_space)", fxXMMOff},
		{"offsetof(struct _fpstate_64, sw_reserved)", fxSWOff}, {"sizeof(struct _fpstate_64)", fxsaveSize},
		{"offsetof(struct _fpx_sw_bytes, magic1)", swMagic1}, {"offsetof(struct _fpx_sw_bytes, extended_size)", swExtendedSize},
		{"offsetof(struct _fpx_sw_bytes, xfeatures)", swXfeatures}, {"offsetof(struct _fpx_sw_bytes, xstate_size)", swXstateSize},
		{"offsetof(struct _xstate, xstate_hdr)", xsaveHeaderOff}, {"sizeof(struct _header)", xsaveHeaderSize},

		{"sizeof(struct epoll_event)", epollEventSize}, {"offsetof(struct epoll_event, data)", 4},
		{"EPOLLIN", epollIn}, {"EPOLLPRI", epollPri}, {"EPOLLOUT", epollOut}, {"EPOLLERR", epollErr},
		{"EPOLLHUP", epollHup}, {"EPOLLNVAL", epollNval}, {"EPOLLRDNORM", epollRdnorm}, {"EPOLLRDBAND", epollRdband},
		{"EPOLLWRNORM", epollWrnorm}, {"EPOLLWRBAND", epollWrband}, {"EPOLLMSG", epollMsg}, {"EPOLLRDHUP", epollRdhup},
		{"EPOLLEXCLUSIVE", epollExclusive}, {"EPOLLWAKEUP", epollWakeup}, {"EPOLLONESHOT", epollOneshot},
		{"EPOLLET", epollET}, {"EPOLL_CTL_ADD", epollCtlAdd}, {"EPOLL_CTL_DEL", epollCtlDel},
		{"EPOLL_CTL_MOD", epollCtlMod}, {"EPOLL_CLOEXEC", epollCloexec},

		{"offsetof(siginfo_t, si_tid)", siOffPid}, {"offsetof(siginfo_t, si_overrun)", siOffUID},
		{"offsetof(siginfo_t, si_int)", siOffValue},
		{"sizeof(struct sigevent)", sigeventSize}, {"offsetof(struct sigevent, sigev_value)", 0},
		{"offsetof(struct sigevent, sigev_signo)", 8}, {"offsetof(struct sigevent, sigev_notify)", 12},
		{"offsetof(struct sigevent, _sigev_un._tid)", 16},
		{"SIGEV_SIGNAL", sigevSignal}, {"SIGEV_NONE", sigevNone}, {"SIGEV_THREAD", sigevThread},
		{"SIGEV_THREAD_ID", sigevThreadID},
		{"sizeof(struct __kernel_itimerspec)", itimerspecSize},
		{"offsetof(struct __kernel_itimerspec, it_interval)", 0},
		{"offsetof(struct __kernel_itimerspec, it_value)", timespecSize},
		{"TFD_TIMER_ABSTIME", tfdTimerAbstime}, {"TFD_TIMER_CANCEL_ON_SET", tfdTimerCancelOnSet},
		{"TFD_CLOEXEC", tfdCloexec}, {"TFD_NONBLOCK", tfdNonblock}, {"TIMER_ABSTIME", timerAbstime},
		{"CLOCK_REALTIME", clockRealtime}, {"CLOCK_MONOTONIC", clockMonotonic},
		{"CLOCK_PROCESS_CPUTIME_ID", clockProcessCputimeID}, {"CLOCK_THREAD_CPUTIME_ID", clockThreadCputimeID},
		{"CLOCK_MONOTONIC_RAW", clockMonotonicRaw}, {"CLOCK_REALTIME_COARSE", clockRealtimeCoarse},
		{"CLOCK_MONOTONIC_COARSE", clockMonotonicCoarse}, {"CLOCK_BOOTTIME", clockBoottime},
		{"CLOCK_REALTIME_ALARM", clockRealtimeAlarm}, {"CLOCK_BOOTTIME_ALARM", clockBoottimeAlarm},
		{"CLOCK_TAI", clockTAI},

		{"sizeof(struct signalfd_siginfo)", signalfdInfoSize},
		{"offsetof(struct signalfd_siginfo, ssi_signo)", sfdOffSigno},
		{"offsetof(struct signalfd_siginfo, ssi_errno)", sfdOffErrno},
		{"offsetof(struct signalfd_siginfo, ssi_code)", sfdOffCode},
		{"offsetof(struct signalfd_siginfo, ssi_pid)", sfdOffPid},
		{"offsetof(struct signalfd_siginfo, ssi_uid)", sfdOffUID},
		{"offsetof(struct signalfd_siginfo, ssi_fd)", sfdOffFd},
		{"offsetof(struct signalfd_siginfo, ssi_tid)", sfdOffTid},
		{"offsetof(struct signalfd_siginfo, ssi_band)", sfdOffBand},
		{"offsetof(struct signalfd_siginfo, ssi_overrun)", sfdOffOverrun},
		{"offsetof(struct signalfd_siginfo, ssi_trapno)", sfdOffTrapno},
		{"offsetof(struct signalfd_siginfo, ssi_status)", sfdOffStatus},
		{"offsetof(struct signalfd_siginfo, ssi_int)", sfdOffInt},
		{"offsetof(struct signalfd_siginfo, ssi_ptr)", sfdOffPtr},
		{"offsetof(struct signalfd_siginfo, ssi_utime)", sfdOffUtime},
		{"offsetof(struct signalfd_siginfo, ssi_stime)", sfdOffStime},
		{"offsetof(struct signalfd_siginfo, ssi_addr)", sfdOffAddr},
		{"offsetof(struct signalfd_siginfo, ssi_addr_lsb)", sfdOffAddrLsb},
		{"offsetof(struct signalfd_siginfo, ssi_syscall)", sfdOffSyscall},
		{"offsetof(struct signalfd_siginfo, ssi_call_addr)", sfdOffCallAddr},
		{"offsetof(struct signalfd_siginfo, ssi_arch)", sfdOffArch},
		{"SFD_CLOEXEC", sfdCloexec}, {"SFD_NONBLOCK", sfdNonblock},
		// The siginfo_t members signalfd reads (siOffUnion + the offsets
		// encodeSignalfdInfo uses).
		{"offsetof(siginfo_t, si_band)", siOffUnion}, {"offsetof(siginfo_t, si_fd)", siOffUnion + 8},
		{"offsetof(siginfo_t, si_status)", siOffUnion + 8}, {"offsetof(siginfo_t, si_utime)", siOffUnion + 16},
		{"offsetof(siginfo_t, si_stime)", siOffUnion + 24}, {"offsetof(siginfo_t, si_addr_lsb)", siOffUnion + 8},
		{"offsetof(siginfo_t, si_call_addr)", siOffUnion}, {"offsetof(siginfo_t, si_syscall)", siOffUnion + 8},
		{"offsetof(siginfo_t, si_arch)", siOffUnion + 12}, {"offsetof(siginfo_t, si_ptr)", siOffUnion + 8},
		{"BUS_MCEERR_AR", busMceerrAR}, {"BUS_MCEERR_AO", busMceerrAO}, {"NSIGPOLL", nsigPoll},
		// NSIGSEGV is left out: 10 since Linux 6.6 (SEGV_CPERR), 9 in
		// older headers.
		{"NSIGILL", 11}, {"NSIGFPE", 15}, {"NSIGBUS", 5}, {"NSIGTRAP", 6},
		{"NSIGCHLD", 6}, {"NSIGSYS", 2},
	}
	var src strings.Builder
	src.WriteString(`#include <stddef.h>
#include <stdio.h>
#include <linux/signal.h>
#include <asm/sigcontext.h>
#include <asm/ucontext.h>
#include <linux/eventpoll.h>
#include <linux/time_types.h>
#include <linux/timerfd.h>
#include <linux/time.h>
#include <linux/signalfd.h>
/* arch/x86/include/asm/sigframe.h, not in uapi */
struct rt_sigframe { char *pretcode; struct ucontext uc; siginfo_t info; };
int main(void) {
`)
	for i, c := range checks {
		fmt.Fprintf(&src, "\tprintf(\"%d %%lld\\n\", (long long)(%s));\n", i, c.c)
	}
	src.WriteString("\treturn 0;\n}\n")
	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "abi.c"), filepath.Join(dir, "abi")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		i, _ := strconv.Atoi(f[0])
		got, _ := strconv.ParseInt(f[1], 10, 64)
		if c := checks[i]; got != c.want {
			t.Errorf("%s = %d in the kernel headers, %d in the VMM", c.c, got, c.want)
		}
		seen++
	}
	if seen != len(checks) {
		t.Fatalf("checked %d of %d values", seen, len(checks))
	}
}
