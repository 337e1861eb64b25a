package unix

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// KVM ioctl request numbers, as the _IO/_IOR/_IOW/_IOWR macros of
// include/uapi/linux/kvm.h expand them on x86-64 (checked against
// linux-libc-dev 6.1 headers; see hypervisor/kvm/layout_test.go). Only the
// ioctls the vpmu VMM uses are listed.
const (
	// System (/dev/kvm) ioctls.
	KVM_GET_API_VERSION        = 0xae00     // _IO(KVMIO, 0x00)
	KVM_CREATE_VM              = 0xae01     // _IO(KVMIO, 0x01)
	KVM_GET_MSR_INDEX_LIST     = 0xc004ae02 // _IOWR(KVMIO, 0x02, struct kvm_msr_list)
	KVM_CHECK_EXTENSION        = 0xae03     // _IO(KVMIO, 0x03)
	KVM_GET_VCPU_MMAP_SIZE     = 0xae04     // _IO(KVMIO, 0x04)
	KVM_GET_SUPPORTED_CPUID    = 0xc008ae05 // _IOWR(KVMIO, 0x05, struct kvm_cpuid2)
	KVM_CREATE_VCPU            = 0xae41     // _IO(KVMIO, 0x41)
	KVM_SET_USER_MEMORY_REGION = 0x4020ae46 // _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)
	KVM_SET_TSS_ADDR           = 0xae47     // _IO(KVMIO, 0x47)
	KVM_SET_IDENTITY_MAP_ADDR  = 0x4008ae48 // _IOW(KVMIO, 0x48, __u64)
	KVM_ENABLE_CAP             = 0x4068aea3 // _IOW(KVMIO, 0xa3, struct kvm_enable_cap)

	// VCPU ioctls.
	KVM_RUN             = 0xae80     // _IO(KVMIO, 0x80)
	KVM_GET_REGS        = 0x8090ae81 // _IOR(KVMIO, 0x81, struct kvm_regs)
	KVM_SET_REGS        = 0x4090ae82 // _IOW(KVMIO, 0x82, struct kvm_regs)
	KVM_GET_SREGS       = 0x8138ae83 // _IOR(KVMIO, 0x83, struct kvm_sregs)
	KVM_SET_SREGS       = 0x4138ae84 // _IOW(KVMIO, 0x84, struct kvm_sregs)
	KVM_GET_MSRS        = 0xc008ae88 // _IOWR(KVMIO, 0x88, struct kvm_msrs)
	KVM_SET_MSRS        = 0x4008ae89 // _IOW(KVMIO, 0x89, struct kvm_msrs)
	KVM_SET_CPUID2      = 0x4008ae90 // _IOW(KVMIO, 0x90, struct kvm_cpuid2)
	KVM_SET_GUEST_DEBUG = 0x4048ae9b // _IOW(KVMIO, 0x9b, struct kvm_guest_debug)
	KVM_GET_VCPU_EVENTS = 0x8040ae9f // _IOR(KVMIO, 0x9f, struct kvm_vcpu_events)
	KVM_SET_VCPU_EVENTS = 0x4040aea0 // _IOW(KVMIO, 0xa0, struct kvm_vcpu_events)
	KVM_GET_XSAVE       = 0x9000aea4 // _IOR(KVMIO, 0xa4, struct kvm_xsave)
	KVM_SET_XSAVE       = 0x5000aea5 // _IOW(KVMIO, 0xa5, struct kvm_xsave)
	KVM_GET_XCRS        = 0x8188aea6 // _IOR(KVMIO, 0xa6, struct kvm_xcrs)
	KVM_SET_XCRS        = 0x4188aea7 // _IOW(KVMIO, 0xa7, struct kvm_xcrs)
	KVM_GET_XSAVE2      = 0x9000aecf // _IOR(KVMIO, 0xcf, struct kvm_xsave)
)

// Memory and thread calls the VMM needs beyond unix_linux.go.
const (
	MAP_STACK     = unix.MAP_STACK
	MAP_GROWSDOWN = unix.MAP_GROWSDOWN
	MADV_FREE     = unix.MADV_FREE
)

// KVMIoctl issues an ioctl whose argument is an integer (or unused) on a
// KVM fd and returns the ioctl's non-negative result. It does not tell the
// Go scheduler it may block; use it only for ioctls that return promptly.
func KVMIoctl(fd int, req, arg uintptr) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// KVMIoctlPtr issues an ioctl whose argument points at a kernel struct.
// The pointer stays live for the duration of the call.
func KVMIoctlPtr(fd int, req uintptr, arg unsafe.Pointer) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// KVMRun issues KVM_RUN on a VCPU fd. Unlike the other helpers it goes
// through the Go scheduler's blocking-syscall path, because guest code may
// run for a long time and the calling OS thread must not hold a P
// meanwhile. It returns the raw errno (0 on success); EINTR means a signal
// or kvm_run.immediate_exit ended the run early.
func KVMRun(fd int) Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), KVM_RUN, 0)
	return e
}
