package hypervisor

import "unsafe"

// hostAddr returns the host virtual address of b's first byte, for
// kvm_userspace_memory_region.userspace_addr. b must be mmap'd memory
// that stays mapped while KVM uses it.
func hostAddr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }
