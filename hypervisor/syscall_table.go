package hypervisor

import (
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu/virt"
)

// A syscallFunc implements one system call. It runs on the calling
// thread's VCPU goroutine with t's user context in t.ctx, and returns the
// result, or an error: a unix.Errno becomes -errno in RAX; errBlock (from
// t.block) parks the thread while the wait runs elsewhere; errThreadExit
// ends the thread. Any other error is a VMM failure, logged and returned
// to the guest as EIO.
//
// A handler must never block the VCPU goroutine on something the guest
// controls (another thread, a timer, a pipe): use t.block.
type syscallFunc func(t *Thread, a SyscallArgs) (uint64, error)

// syscallTable maps numbers to handlers. It is filled by init functions
// of the syscall_*.go files (one per family) through registerSyscall and
// read-only afterwards.
var syscallTable [len(syscallNames)]syscallFunc

// registerSyscall installs the handler of system call nr. It is called
// from init functions only; registering a number twice is a programming
// error and panics at start-up (TestSyscallTable catches it too).
func registerSyscall(nr int, fn syscallFunc) {
	if nr < 0 || nr >= len(syscallTable) || syscallNames[nr] == "" {
		panic(fmt.Sprintf("hypervisor: registerSyscall(%d): no such x86-64 system call", nr))
	}
	if syscallTable[nr] != nil {
		panic(fmt.Sprintf("hypervisor: system call %s registered twice", syscallNames[nr]))
	}
	syscallTable[nr] = fn
}

// enosys is the handler of system calls the VMM deliberately refuses
// (rseq, clone3, ...), so that the C library falls back: they return
// ENOSYS without being reported as unimplemented.
func enosys(*Thread, SyscallArgs) (uint64, error) { return 0, unix.ENOSYS }

// syscallName returns the name of system call nr, or "syscall_<nr>".
func syscallName(nr int) string {
	if nr >= 0 && nr < len(syscallNames) && syscallNames[nr] != "" {
		return syscallNames[nr]
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// dispatchSyscall runs system call nr. Unimplemented calls return ENOSYS
// and are reported once per VM each; calls with a number no x86-64
// system call has return ENOSYS and are only counted, all in one tally
// (the first one is reported), so that a guest making arbitrary numbers
// cannot grow the VM's reports.
func (t *Thread) dispatchSyscall(nr uint64, a SyscallArgs) (uint64, error) {
	if nr == virt.PVSyscall {
		return t.pvCall(a)
	}
	if nr < uint64(len(syscallTable)) && syscallNames[nr] != "" {
		if fn := syscallTable[nr]; fn != nil {
			return fn(t, a)
		}
		t.proc.vm.reportUnimplemented(int(nr))
		return 0, unix.ENOSYS
	}
	t.proc.vm.reportUnknownSyscall(nr)
	return 0, unix.ENOSYS
}

// errnoReturn encodes an errno as a system call's RAX.
func errnoReturn(e unix.Errno) uint64 { return uint64(-int64(e)) }
