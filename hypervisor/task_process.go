package hypervisor

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Virtual process identity: the guest sees itself as pid guestPID, child
// of guestPPID; threads get TIDs from guestPID up.
const (
	guestPID  = 1000
	guestPPID = 1
)

// Process is the guest program: a thread group sharing one address
// space, fd table and futex table. vpmu runs one process per VM.
//
// Locking: mu protects threads, nextTID, status and crash. mm, fds,
// futexes and sig have their own locks. exiting is atomic so that VCPU loops
// can poll it cheaply.
type Process struct {
	vm      *VM
	pid     int
	mm      *MM
	fds     *fdTable
	futexes *futexTable
	sig     processSignals // signal_state.go
	// exe is the absolute host path of the program (/proc/self/exe).
	exe string
	// argv, envp and auxv are what the program started with
	// (/proc/self/cmdline, environ, auxv); set by load.
	argv, envp []string
	auxv       []byte

	mu      sync.Mutex
	threads map[int]*Thread
	nextTID int
	status  ExitStatus
	crash   error

	// cpuTotal is the guest time of the process's threads, including
	// the ones that exited (CLOCK_PROCESS_CPUTIME_ID, RUSAGE_SELF).
	cpuTotal atomic.Int64
	// cpuTimers are ITIMER_PROF and ITIMER_VIRTUAL (cputimer.go),
	// cpuWatch the POSIX timers on the process's CPU clock (cpuclock.go).
	cpuTimers cpuTimers
	cpuWatch  cpuWatch

	// exiting is set once the process is going away (exit_group, a
	// fatal signal, a kill); threads leave their VCPUs at the next
	// opportunity.
	exiting atomic.Bool
	// live counts threads that have not exited; done is closed when it
	// drops to zero after start.
	live     atomic.Int32
	done     chan struct{}
	doneOnce sync.Once
}

func newProcess(vm *VM) (*Process, error) {
	cwd := vm.cfg.Dir
	if cwd == "" {
		var err error
		if cwd, err = os.Getwd(); err != nil {
			cwd = "/"
		}
	}
	p := &Process{
		vm:      vm,
		pid:     guestPID,
		mm:      vm.m.mm,
		futexes: newFutexTable(),
		threads: map[int]*Thread{},
		nextTID: guestPID,
		done:    make(chan struct{}),
	}
	p.fds = newFDTable(vm.cfg)
	if err := p.fds.chdirInitial(cwd); err != nil {
		return nil, err
	}
	return p, nil
}

// newThread creates a thread of p with the given context. It is not
// runnable until handed to the scheduler.
func (p *Process) newThread(ctx threadContext) *Thread {
	p.mu.Lock()
	defer p.mu.Unlock()
	tid := p.nextTID
	p.nextTID++
	t := &Thread{proc: p, tid: tid, ctx: ctx}
	p.threads[tid] = t
	p.live.Add(1)
	return t
}

// threadExited removes t; the last thread out ends the process with
// status (unless an earlier exit_group or crash set one).
func (p *Process) threadExited(t *Thread, status ExitStatus) {
	p.threadGone(t)
	p.mu.Lock()
	delete(p.threads, t.tid)
	p.mu.Unlock()
	if p.live.Add(-1) == 0 {
		p.exit(status, nil)
		p.doneOnce.Do(func() { close(p.done) })
	}
}

// cpuNanos is the process's guest time: its threads', including the
// ones that exited.
func (p *Process) cpuNanos() int64 { return p.cpuTotal.Load() }

// exit starts the end of the process with status and, for crashes, the
// error Run returns. The first caller wins. Every other thread is made to
// leave: running ones are kicked off their VCPUs, blocked ones have their
// waits cancelled.
func (p *Process) exit(status ExitStatus, crash error) {
	if p.exiting.Swap(true) {
		return
	}
	p.mu.Lock()
	p.status, p.crash = status, crash
	threads := make([]*Thread, 0, len(p.threads))
	for _, t := range p.threads {
		threads = append(threads, t)
	}
	p.mu.Unlock()
	for _, t := range threads {
		t.interrupt()
	}
	p.vm.sched.processExiting(p)
}

// kill ends the process as if by an uncatchable signal.
func (p *Process) kill(sig syscall.Signal) {
	p.exit(ExitStatus{Signal: sig}, nil)
	// A process that never started has no threads to close done.
	if p.live.Load() == 0 {
		p.doneOnce.Do(func() { close(p.done) })
	}
}

// result is what Run returns once done is closed.
func (p *Process) result() (ExitStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.crash
}

// thread returns the live thread with the given TID, or nil.
func (p *Process) thread(tid int) *Thread {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.threads[tid]
}
