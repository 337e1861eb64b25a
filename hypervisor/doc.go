// Package hypervisor is vpmu's VMM: it runs an unmodified Linux x86-64
// program (static or dynamic ELF, C or Go, multi-threaded) in guest ring 3
// on /dev/kvm at native speed, and implements the Linux system-call ABI
// itself, the way gVisor's KVM platform does: there is no guest kernel.
//
// In the guest-thread -> VCPU -> PCPU -> counter picture, this package
// owns the first two arrows. Guest threads are multiplexed onto VCPUs
// (they switch when they block, yield or use up their time slice), and
// VCPUs onto PCPU slots (at most one VCPU per slot; each VCPU keeps its
// own OS thread). Every switch is announced through [Hooks], where the
// virtual PMU saves and restores counter state.
//
// Usage:
//
//	vm, err := hypervisor.New(hypervisor.Config{VCPUs: 2, Stdout: os.Stdout})
//	...
//	defer vm.Close()
//	status, err := vm.Run(ctx, "/usr/bin/bzip2", []string{"bzip2", "-c"})
//
// Run returns the [ExitStatus] and, when the program died of a fault, a
// [*GuestCrash] with the registers and the faulting address.
//
// Layout of the package, by file prefix:
//
//	arch_*     guest descriptor tables, TSS, hand-assembled stubs, layout
//	machine*   the KVM VM, its memory slots and VCPU set-up
//	mm*        the guest address space: VMAs, fixed GVA->GPA bindings,
//	           page tables, guest-memory copy helpers
//	loader*    ELF loading and the initial stack
//	vcpu*      the per-VCPU exit loop and exit classification
//	sched*     the two scheduling levels
//	task*      processes and threads
//	syscall_*  the system-call table and one file per family of calls
//	fd_*       the file-descriptor table and file kinds
//	sandbox*   path resolution beneath the granted directories, refusals
//	signal*    signal state, frames, FPU images and delivery
//	futex.go   futex wait queues
//
// docs/hypervisor.md describes the memory layout, the system-call path,
// exceptions, scheduling and hooks, and what differs from Linux.
package hypervisor
