package kvm

import "github.com/vpmu/vpmu/internal/unix"

// TSCKHz returns the frequency of the VCPU's guest TSC in kHz
// (KVM_GET_TSC_KHZ).
func (v *VCPU) TSCKHz() (int, error) {
	n, err := unix.KVMIoctl(v.fd, unix.KVM_GET_TSC_KHZ, 0)
	if err != nil {
		return 0, ioctlErr("KVM_GET_TSC_KHZ", err)
	}
	return n, nil
}
