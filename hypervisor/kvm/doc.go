// Package kvm is the narrow layer between the vpmu VMM and Linux's
// /dev/kvm: the few ioctls the VMM issues, Go structs that mirror the
// kernel structs they pass (each names the struct of
// include/uapi/linux/kvm.h or arch/x86/include/uapi/asm/kvm.h it mirrors,
// and layout_test.go checks sizes and offsets), and a pure decoder for the
// exit-reason union of struct kvm_run.
//
// It sits under the hypervisor package, at the bottom of the guest-thread
// -> VCPU -> PCPU picture: a [VCPU] here is one KVM vcpu fd with its
// mmap'd kvm_run page; which guest thread runs on it and which PCPU slot it
// holds is the hypervisor package's business.
//
// Concurrency: a [System] and a [VM] may be used from any goroutine. A
// [VCPU]'s ioctls must be issued from one goroutine at a time, normally
// the OS-thread-locked goroutine that owns it; the only cross-thread
// operation is [VCPU.RequestImmediateExit].
//
// All errors from ioctls are *[IoctlError] values that name the ioctl and
// wrap the errno.
package kvm
