package hypervisor

import (
	"github.com/vpmu/vpmu/internal/unix"
)

// Thread and process life: exit, exit_group, clone, identity, TID
// addresses, sched_yield, arch_prctl.

func init() {
	registerSyscall(sysExit, func(t *Thread, a SyscallArgs) (uint64, error) {
		t.exitCode = a.Int(0) & 0xff
		return 0, errThreadExit
	})
	registerSyscall(sysExitGroup, func(t *Thread, a SyscallArgs) (uint64, error) {
		t.exitCode = a.Int(0) & 0xff
		t.proc.exit(ExitStatus{Code: t.exitCode}, nil)
		return 0, errThreadExit
	})
	registerSyscall(sysGetpid, func(t *Thread, _ SyscallArgs) (uint64, error) { return uint64(t.proc.pid), nil })
	registerSyscall(sysGettid, func(t *Thread, _ SyscallArgs) (uint64, error) { return uint64(t.tid), nil })
	registerSyscall(sysGetppid, func(*Thread, SyscallArgs) (uint64, error) { return guestPPID, nil })
	registerSyscall(sysGetuid, func(*Thread, SyscallArgs) (uint64, error) { return uint64(unix.Getuid()), nil })
	registerSyscall(sysGeteuid, func(*Thread, SyscallArgs) (uint64, error) { return uint64(unix.Geteuid()), nil })
	registerSyscall(sysGetgid, func(*Thread, SyscallArgs) (uint64, error) { return uint64(unix.Getgid()), nil })
	registerSyscall(sysGetegid, func(*Thread, SyscallArgs) (uint64, error) { return uint64(unix.Getegid()), nil })
	registerSyscall(sysSetTidAddress, func(t *Thread, a SyscallArgs) (uint64, error) {
		t.clearChildTID = a[0]
		return uint64(t.tid), nil
	})
	registerSyscall(sysSetRobustList, func(t *Thread, a SyscallArgs) (uint64, error) {
		const robustListHeadSize = 24
		if a[1] != robustListHeadSize {
			return 0, unix.EINVAL
		}
		t.robustList, t.robustLen = a[0], a[1]
		return 0, nil
	})
	// rseq and clone3 are refused so that glibc falls back to what the
	// VMM implements (no restartable sequences; clone).
	registerSyscall(sysRseq, enosys)
	registerSyscall(sysClone3, enosys)
	registerSyscall(sysClone, sysCloneFn)
	registerSyscall(sysSchedYield, func(t *Thread, _ SyscallArgs) (uint64, error) {
		t.yield = true
		return 0, nil
	})
	registerSyscall(sysArchPrctl, sysArchPrctlFn)
	registerSyscall(sysPrctl, sysPrctlFn)
}

// exit finishes a thread that left its VCPU for good: the
// CLONE_CHILD_CLEARTID wake-up, then the thread-group bookkeeping.
func (t *Thread) exit() {
	p := t.proc
	p.vm.log.Debug("thread exit", "tid", t.tid, "code", t.exitCode, "process_exiting", p.exiting.Load())
	t.exitSignals()
	if !p.exiting.Load() && t.clearChildTID != 0 {
		// As Linux's mm_release: clear the TID word and wake one waiter
		// (pthread_join). Errors are ignored, as in Linux.
		if p.mm.WriteUint32(t.clearChildTID, 0) == nil {
			p.futexes.wake(t.clearChildTID, 1, futexBitsetAny)
		}
	}
	p.threadExited(t, ExitStatus{Code: t.exitCode})
}

// Clone flags (include/uapi/linux/sched.h).
const (
	cloneVM            = 0x00000100
	cloneFS            = 0x00000200
	cloneFiles         = 0x00000400
	cloneSighand       = 0x00000800
	clonePidfd         = 0x00001000
	clonePtrace        = 0x00002000
	cloneVfork         = 0x00004000
	cloneParent        = 0x00008000
	cloneThread        = 0x00010000
	cloneNewNS         = 0x00020000
	cloneSysvsem       = 0x00040000
	cloneSettls        = 0x00080000
	cloneParentSettid  = 0x00100000
	cloneChildCleartid = 0x00200000
	cloneDetached      = 0x00400000
	cloneUntraced      = 0x00800000
	cloneChildSettid   = 0x01000000
	cloneIO            = 0x80000000

	// cloneThreadFlags must all be present for a thread.
	cloneThreadFlags = cloneVM | cloneFS | cloneFiles | cloneSighand | cloneThread
	// cloneThreadOptional may accompany them.
	cloneThreadOptional = cloneSysvsem | cloneSettls | cloneParentSettid | cloneChildCleartid |
		cloneChildSettid | cloneDetached | cloneUntraced | cloneIO
)

// cloneRequest is a decoded clone(2) call (x86-64 argument order: flags,
// stack, parent_tid, child_tid, tls).
type cloneRequest struct {
	flags               uint64
	stack               uint64
	parentTID, childTID uint64
	tls                 uint64
	exitSignal          uint64
}

// decodeClone validates a clone call. Only threads are supported: new
// processes (fork, vfork, posix_spawn) need the process family and
// return ENOSYS; malformed thread requests return EINVAL as Linux does.
func decodeClone(a SyscallArgs) (cloneRequest, error) {
	r := cloneRequest{flags: a[0] &^ 0xff, exitSignal: a[0] & 0xff, stack: a[1], parentTID: a[2], childTID: a[3], tls: a[4]}
	if r.flags&cloneThread == 0 {
		return r, unix.ENOSYS
	}
	if r.flags&cloneThreadFlags != cloneThreadFlags {
		// CLONE_THREAD needs SIGHAND, which needs VM (Linux: EINVAL).
		return r, unix.EINVAL
	}
	if r.flags&^(cloneThreadFlags|cloneThreadOptional) != 0 {
		return r, unix.EINVAL
	}
	return r, nil
}

func sysCloneFn(t *Thread, a SyscallArgs) (uint64, error) {
	r, err := decodeClone(a)
	if err != nil {
		if err == unix.ENOSYS {
			t.proc.vm.reportUnimplemented(sysClone)
		}
		return 0, err
	}
	if r.flags&cloneSettls != 0 && !canonical(r.tls) {
		return 0, unix.EPERM
	}
	ctx := t.ctx
	ctx.regs.RAX = 0
	if r.stack != 0 {
		ctx.regs.RSP = r.stack
	}
	if r.flags&cloneSettls != 0 {
		ctx.fsBase = r.tls
	}
	fpu, err := t.currentFPU()
	if err != nil {
		return 0, err
	}
	ctx.fpu, ctx.fpuGen = fpu, 0
	child := t.proc.newThread(ctx)
	if err := t.threadCreated(child, r.flags); err != nil {
		t.proc.threadExited(child, ExitStatus{})
		return 0, err
	}
	if r.flags&cloneChildCleartid != 0 {
		child.clearChildTID = r.childTID
	}
	t.cloneSignals(child)
	if r.flags&cloneParentSettid != 0 {
		if err := t.proc.mm.WriteUint32(r.parentTID, uint32(child.tid)); err != nil {
			t.proc.threadExited(child, ExitStatus{})
			return 0, err
		}
	}
	if r.flags&cloneChildSettid != 0 {
		t.proc.mm.WriteUint32(r.childTID, uint32(child.tid))
	}
	t.proc.vm.log.Debug("clone", "tid", t.tid, "child", child.tid, "flags", r.flags, "stack", r.stack, "rip", ctx.regs.RIP)
	t.proc.vm.sched.makeRunnable(child)
	return uint64(child.tid), nil
}

// currentFPU returns a copy of t's FPU state: from its VCPU while it
// runs there, else from its saved context.
func (t *Thread) currentFPU() ([]byte, error) {
	if v := t.vcpu; v != nil {
		buf := make([]byte, v.vm.m.xsaveSize)
		if err := v.k.XSave(buf, v.vm.m.xsave2); err != nil {
			return nil, err
		}
		return buf, nil
	}
	if t.ctx.fpu == nil {
		return nil, nil
	}
	return append([]byte(nil), t.ctx.fpu...), nil
}

// arch_prctl codes.
const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)

func sysArchPrctlFn(t *Thread, a SyscallArgs) (uint64, error) {
	switch a.Int(0) {
	case archSetFS:
		if !canonical(a[1]) || a[1] >= userTop {
			return 0, unix.EPERM
		}
		t.ctx.fsBase = a[1]
		t.ctxChanged |= ctxSegments
		return 0, nil
	case archSetGS:
		if !canonical(a[1]) || a[1] >= userTop {
			return 0, unix.EPERM
		}
		t.ctx.gsBase = a[1]
		t.ctxChanged |= ctxSegments
		return 0, nil
	case archGetFS:
		return 0, t.proc.mm.WriteUint64(a[1], t.ctx.fsBase)
	case archGetGS:
		return 0, t.proc.mm.WriteUint64(a[1], t.ctx.gsBase)
	default:
		// CET and other codes: not supported, as on a kernel without them.
		return 0, unix.EINVAL
	}
}

// prctl options handled here.
const (
	prSetName = 15
	prGetName = 16
	prSetVMA  = 0x53564d41
	taskComm  = 16 // TASK_COMM_LEN
)

// sysPrctlFn implements the thread-name options and refuses PR_SET_VMA
// as a kernel without CONFIG_ANON_VMA_NAME does (EINVAL; Go tries it).
// Other options are reported and return EINVAL.
func sysPrctlFn(t *Thread, a SyscallArgs) (uint64, error) {
	switch a.Int(0) {
	case prSetName:
		// As strncpy_from_user(comm, 16): at most 15 bytes are kept.
		name, err := t.proc.mm.ReadString(a[1], taskComm-1)
		if err == unix.ENAMETOOLONG {
			b := make([]byte, taskComm-1)
			err = t.proc.mm.CopyIn(a[1], b)
			name = string(b)
		}
		if err != nil {
			return 0, err
		}
		t.name = name
		return 0, nil
	case prGetName:
		b := make([]byte, taskComm)
		copy(b, t.name)
		return 0, t.proc.mm.CopyOut(a[1], b)
	case prSetVMA:
		return 0, unix.EINVAL
	default:
		t.proc.vm.reportUnimplemented(sysPrctl)
		return 0, unix.EINVAL
	}
}
