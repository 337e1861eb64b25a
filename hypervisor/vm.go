package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// VM runs one unmodified Linux x86-64 program in guest ring 3 on
// /dev/kvm, implementing the Linux system-call ABI itself.
//
// A VM runs one program: New creates the KVM VM and its VCPUs, Run loads
// and runs the program to completion, Close releases everything. Run and
// Close may be called from any goroutine; Stats and Host may be called
// concurrently with Run.
type VM struct {
	cfg   Config
	log   *slog.Logger
	hooks Hooks
	m     *machine
	sched *scheduler
	vcpus []*vcpu
	sb    *sandbox // granted directories and refusals (sandbox.go)
	// pmu is the virtual PMU, nil when VPMUConfig.Off.
	pmu *vpmu

	// runMu is held by Run from start to end; Close takes it before
	// releasing the machine.
	runMu sync.Mutex

	mu     sync.Mutex // protects ran, closed, proc, unimpl, unknown
	ran    bool
	closed bool
	proc   *Process
	// unimpl holds the numbers of the x86-64 system calls the guest made
	// that the VMM does not implement: at most one entry per call
	// syscallNames has.
	unimpl map[int]bool
	// unknown tallies the system calls whose number no x86-64 system
	// call has, whatever the number: a guest can make any number of
	// them without growing the VM's state, logs or metrics.
	unknown unknownSyscalls

	stats vmCounters
}

// vmCounters are the VM-wide tallies behind Stats.
type vmCounters struct {
	exits, syscalls, exceptions, threadSwitches, kicks atomic.Uint64
	signals                                            atomic.Uint64
}

// New checks cfg and creates the KVM VM with its VCPUs and VMM area. It
// fails with an error matching ErrKVMUnsupported when /dev/kvm lacks a
// needed capability, and with the open error when there is no KVM.
func New(cfg Config) (*VM, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sb, err := newSandbox(cfg.RWDirs, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	m, err := newMachine(cfg.VCPUs, physSize(cfg.MemBytes), cfg.MemBytes)
	if err != nil {
		sb.close()
		return nil, fmt.Errorf("create VM: %w", err)
	}
	vm := &VM{cfg: cfg, log: cfg.Logger, hooks: cfg.Hooks, m: m, sb: sb, unimpl: map[int]bool{}}
	vm.sched = newScheduler(vm, cfg.PCPUs)
	for i, k := range m.vcpus {
		vm.vcpus = append(vm.vcpus, newVCPU(vm, i, k))
	}
	if vm.pmu, err = newVPMU(vm); err != nil {
		m.close()
		return nil, err
	}
	vm.log.Debug("vm created", "host", m.host.Kind.String(), "host_reason", m.host.Reason,
		"vcpus", cfg.VCPUs, "pcpus", cfg.PCPUs, "xsave_bytes", m.xsaveSize, "xcr0", m.xcr0)
	return vm, nil
}

// Host reports what kind of KVM the VM runs on.
func (vm *VM) Host() kvm.HostInfo { return vm.m.host }

// Close releases the VM. A Run in progress is killed first.
func (vm *VM) Close() error {
	vm.mu.Lock()
	if vm.closed {
		vm.mu.Unlock()
		return nil
	}
	vm.closed = true
	p := vm.proc
	vm.mu.Unlock()
	if p != nil {
		p.kill(unix.SIGKILL)
	}
	// Wait for a Run in progress to return (one still loading sees
	// closed and stops).
	vm.runMu.Lock()
	defer vm.runMu.Unlock()
	vm.sb.close()
	return errors.Join(vm.pmu.close(), vm.m.close())
}

// Run loads the program at path (an ELF executable; argv[0] is what the
// program sees as its name) and runs it until it exits, crashes or ctx is
// done (then it is killed with SIGKILL). It returns the exit status; when
// the program died of a fault the error is a *GuestCrash and the status
// says which signal killed it. Other errors mean the program could not be
// started (a *LoadError for a bad executable) or the VMM failed.
func (vm *VM) Run(ctx context.Context, path string, argv []string) (ExitStatus, error) {
	vm.mu.Lock()
	switch {
	case vm.closed:
		vm.mu.Unlock()
		return ExitStatus{}, ErrClosed
	case vm.ran:
		vm.mu.Unlock()
		return ExitStatus{}, ErrVMUsed
	}
	vm.ran = true
	vm.runMu.Lock()
	defer vm.runMu.Unlock()
	vm.mu.Unlock()

	p, err := newProcess(vm)
	if err != nil {
		return ExitStatus{}, err
	}
	main, err := p.load(path, argv, vm.cfg.Env)
	if err == nil {
		err = vm.mainCreated(main)
	}
	if err != nil {
		p.fds.closeAll()
		return ExitStatus{}, err
	}
	vm.mu.Lock()
	if vm.closed {
		vm.mu.Unlock()
		p.fds.closeAll()
		return ExitStatus{}, ErrClosed
	}
	vm.proc = p
	vm.mu.Unlock()

	vm.sched.start(vm.vcpus)
	vm.sched.makeRunnable(main)
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill(unix.SIGKILL)
		<-p.done
	}
	vm.sched.wait()
	vm.pmu.runEnded()
	p.stopSignals() // signal_state.go
	p.fds.closeAll()
	return p.result()
}

// unknownSyscalls is the tally of system calls with unknown numbers.
type unknownSyscalls struct {
	count uint64
	first int64 // the first unknown number, as the guest's RAX read signed
}

// reportUnimplemented logs an unimplemented system call once per VM. nr
// must be the number of an x86-64 system call (syscallNames names it);
// other numbers go to reportUnknownSyscall.
func (vm *VM) reportUnimplemented(nr int) {
	vm.mu.Lock()
	seen := vm.unimpl[nr]
	vm.unimpl[nr] = true
	vm.mu.Unlock()
	if !seen {
		vm.log.Warn("unimplemented system call, returning ENOSYS", "nr", nr, "name", syscallName(nr))
	}
}

// reportUnknownSyscall counts a system call whose number no x86-64
// system call has. Only the first one is logged; the others are counted
// (Stats.UnknownSyscalls), whichever numbers they have.
func (vm *VM) reportUnknownSyscall(nr uint64) {
	vm.mu.Lock()
	vm.unknown.count++
	first := vm.unknown.count == 1
	if first {
		vm.unknown.first = int64(nr)
	}
	vm.mu.Unlock()
	if first {
		vm.log.Warn("unknown system call number, returning ENOSYS (further unknown numbers are only counted)", "nr", int64(nr))
	}
}

// Stats is a snapshot of VM-wide counters.
type Stats struct {
	// Exits counts KVM_RUN returns, including interrupted ones.
	Exits uint64
	// Syscalls counts guest system calls; Exceptions guest exceptions.
	Syscalls, Exceptions uint64
	// ThreadSwitches counts guest threads switched onto a VCPU.
	ThreadSwitches uint64
	// Kicks counts VCPUs interrupted by the scheduler.
	Kicks uint64
	// Signals counts signal handlers the VMM started (frames it built).
	Signals uint64
	// Unimplemented lists, by name, the x86-64 system calls the guest
	// made that the VMM does not implement (they returned ENOSYS): at
	// most one entry per system call Linux has.
	Unimplemented []string
	// UnknownSyscalls counts the system calls the guest made with a
	// number no x86-64 system call has (they returned ENOSYS), and
	// FirstUnknownSyscall is the first such number (RAX read as a signed
	// number), when UnknownSyscalls > 0.
	UnknownSyscalls     uint64
	FirstUnknownSyscall int64
	// Memory is the guest address space's size, when a program runs.
	Memory MMStats
	// Denials lists what the sandbox refused, one entry per kind.
	Denials []Denial
}

// Stats returns current counters.
func (vm *VM) Stats() Stats {
	s := Stats{
		Exits:          vm.stats.exits.Load(),
		Syscalls:       vm.stats.syscalls.Load(),
		Exceptions:     vm.stats.exceptions.Load(),
		ThreadSwitches: vm.stats.threadSwitches.Load(),
		Kicks:          vm.stats.kicks.Load(),
		Signals:        vm.stats.signals.Load(),
		Memory:         vm.m.mm.Stats(),
		Denials:        vm.sb.list(),
	}
	vm.mu.Lock()
	for nr := range vm.unimpl {
		s.Unimplemented = append(s.Unimplemented, syscallName(nr))
	}
	s.UnknownSyscalls, s.FirstUnknownSyscall = vm.unknown.count, vm.unknown.first
	vm.mu.Unlock()
	sort.Strings(s.Unimplemented)
	return s
}
