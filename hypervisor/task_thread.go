package hypervisor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// threadContext is a guest thread's user-mode register state while it is
// off every VCPU: what a VCPU loads to run it. regs are always a user
// context (CS 0x33): RIP is where the thread resumes in its own code.
type threadContext struct {
	regs           kvm.Regs
	fsBase, gsBase uint64
	// fpu is the XSAVE image (the machine's xsave size), nil for the
	// initial FPU state of a new process.
	fpu []byte
	// fpuGen counts changes of fpu, so a VCPU that still holds this
	// thread's FPU state can skip reloading it.
	fpuGen uint64
}

// threadState is where a thread is in its life; sched.mu protects it.
type threadState int

const (
	threadNew      threadState = iota // created, never runnable
	threadRunnable                    // in the run queue
	threadRunning                     // on a VCPU
	threadBlocked                     // waiting off-VCPU for a system call
	threadExited
)

// blockFunc is the waiting part of a system call, run on its own
// goroutine while the thread is off its VCPU. It returns the system
// call's result. ctx is cancelled when the thread must stop waiting
// (its process exits, or a signal arrives).
type blockFunc func(ctx context.Context) (uint64, error)

// Bits of Thread.ctxChanged.
const (
	// ctxRegisters: the handler rewrote ctx.regs beyond RAX (sigreturn,
	// signal delivery), so the VCPU must load all of them.
	ctxRegisters = 1 << iota
	// ctxSegments: the handler changed ctx.fsBase or ctx.gsBase.
	ctxSegments
)

// errBlock is returned by a system-call handler (through Thread.block)
// when the call must wait: the VCPU parks the thread and runs the
// blockFunc elsewhere.
var errBlock = errors.New("system call blocks")

// errThreadExit is returned by exit: the thread is gone.
var errThreadExit = errors.New("thread exited")

// Thread is a guest thread.
//
// Ownership: ctx, pending and the syscall-visible fields below belong to
// whoever runs the thread: its VCPU while it is on one, the scheduler
// while it is queued, its blocking goroutine while it waits. Hand-offs go
// through the scheduler's lock, which orders them. vcpu and state are
// protected by the scheduler's lock.
type Thread struct {
	proc *Process
	tid  int

	ctx threadContext

	// Scheduler state (sched.mu).
	state threadState
	vcpu  *vcpu
	// woken holds a wake-up that came while the thread was still leaving
	// its VCPU, with the system call's result.
	woken    bool
	wokenRet uint64
	wokenErr error

	// Set by a handler for the VCPU loop.
	pending    blockFunc // see block
	ctxChanged int       // ctxRegisters|ctxSegments: what the handler changed in ctx
	yield      bool      // sched_yield: leave the VCPU after this call
	exitCode   int       // for exit: the status to report if last

	// Linux per-thread state.
	clearChildTID         uint64 // CLONE_CHILD_CLEARTID / set_tid_address
	robustList, robustLen uint64
	name                  string // PR_SET_NAME

	// sig is the thread's signal state (signal_state.go).
	sig threadSignals

	// cpuNanos is the guest time this thread ran, for CPU-time clocks;
	// cpuWatch holds the POSIX timers on that clock (cpuclock.go).
	cpuNanos atomic.Int64
	cpuWatch cpuWatch

	// pmu is the thread's virtual-PMU state, nil when the virtual PMU is
	// off. Owned like ctx.
	pmu *vpmuThread

	// mu protects cancel, the cancel function of the current goroutine
	// wait, and waiter, the wait object of the current parked wait.
	mu     sync.Mutex
	cancel context.CancelFunc
	waiter interruptible
}

// interruptible is a wait object a thread parks on without a goroutine
// (a futex waiter). interrupt ends the wait early with EINTR, through
// scheduler.wake, unless it already ended.
type interruptible interface {
	interrupt()
}

// TID returns the thread's id.
func (t *Thread) TID() int { return t.tid }

// MM returns the thread's address space; handlers copy guest memory
// through it.
func (t *Thread) MM() *MM { return t.proc.mm }

// block tells the VCPU loop that the current system call waits: fn runs
// on its own goroutine with the thread off its VCPU, and its result
// becomes the system call's. Handlers return its result directly:
//
//	return t.block(func(ctx context.Context) (uint64, error) { ... })
func (t *Thread) block(fn blockFunc) (uint64, error) {
	t.pending = fn
	return 0, errBlock
}

// park tells the VCPU loop that the current system call waits on w:
// the thread leaves its VCPU and w's waker ends the wait with
// scheduler.wake. Handlers return its result directly.
func (t *Thread) park(w interruptible) (uint64, error) {
	t.mu.Lock()
	t.waiter = w
	// Process.exit sets exiting before it interrupts threads under t.mu:
	// either it sees w, or this sees exiting.
	exiting := t.proc.exiting.Load()
	t.mu.Unlock()
	t.pending = nil
	t.sig.waited = true
	if exiting || t.signalPending() {
		w.interrupt()
	}
	return 0, errBlock
}

// unpark forgets the wait object once the wait ended.
func (t *Thread) unpark() {
	t.mu.Lock()
	t.waiter = nil
	t.mu.Unlock()
}

// startWait creates the context of a wait. It is cancelled by interrupt.
func (t *Thread) startWait() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.mu.Lock()
	t.cancel = cancel
	exiting := t.proc.exiting.Load()
	t.mu.Unlock()
	// A signal sent before cancel was visible ends the wait now; one
	// sent after finds cancel (see sendSignal).
	t.sig.waited = true
	if exiting || t.signalPending() {
		cancel()
	}
	return ctx
}

// endWait releases the context of a finished wait.
func (t *Thread) endWait() {
	t.mu.Lock()
	if t.cancel != nil {
		t.cancel()
		t.cancel = nil
	}
	t.mu.Unlock()
}

// interrupt ends the thread's current wait, if any (its blockFunc sees
// ctx done), and kicks it off its VCPU if it runs. Used when the process
// exits.
func (t *Thread) interrupt() {
	t.mu.Lock()
	if t.cancel != nil {
		t.cancel()
	}
	w := t.waiter
	t.mu.Unlock()
	if w != nil {
		w.interrupt()
	}
	t.proc.vm.sched.kickThread(t)
}

// setSyscallResult stores a system call's result in the thread's saved
// context (RAX), as the kernel's return value: the value, or -errno.
func (t *Thread) setSyscallResult(ret uint64, err error) {
	t.ctx.regs.RAX = syscallReturn(ret, err, t)
}

// syscallReturn encodes a handler's result for RAX.
func syscallReturn(ret uint64, err error, t *Thread) uint64 {
	if err == nil {
		return ret
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return errnoReturn(e)
	}
	// A VMM-side failure that is not an errno: report it and return EIO
	// rather than crash.
	if t != nil {
		t.proc.vm.log.Error("system call failed inside the VMM", "tid", t.tid, "err", err)
	}
	return errnoReturn(unix.EIO)
}
