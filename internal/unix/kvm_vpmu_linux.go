package unix

// KVM ioctls the virtual PMU uses beyond kvm_linux.go.
const (
	// KVM_GET_TSC_KHZ returns the guest TSC frequency of a VCPU in kHz.
	KVM_GET_TSC_KHZ = 0xaea3 // _IO(KVMIO, 0xa3)
)
