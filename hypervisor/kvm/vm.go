package kvm

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// VM is a KVM virtual machine fd. Its methods may be called concurrently.
type VM struct {
	fd       int
	mmapSize int
}

// Close closes the VM fd. VCPUs keep the VM alive in the kernel until they
// are closed too. It is safe to call more than once.
func (vm *VM) Close() error {
	if vm.fd < 0 {
		return nil
	}
	err := unix.Close(vm.fd)
	vm.fd = -1
	return err
}

// CheckExtension is KVM_CHECK_EXTENSION on the VM fd, which may answer
// differently from the system fd for per-VM capabilities.
func (vm *VM) CheckExtension(c Cap) (int, error) {
	v, err := unix.KVMIoctl(vm.fd, unix.KVM_CHECK_EXTENSION, uintptr(c))
	return v, ioctlErr("KVM_CHECK_EXTENSION", err)
}

// SetUserMemoryRegion creates, moves or deletes (MemorySize 0) a memory
// slot. The host memory must stay mapped while the slot exists.
func (vm *VM) SetUserMemoryRegion(r MemoryRegion) error {
	return ioctlErr("KVM_SET_USER_MEMORY_REGION", setUserMemoryRegion(vm.fd, &r))
}

// SetTSSAddr sets the guest-physical address of the three pages Intel VMX
// needs for real-mode emulation (KVM_SET_TSS_ADDR). Other hosts accept and
// ignore it.
func (vm *VM) SetTSSAddr(gpa uint64) error {
	_, err := unix.KVMIoctl(vm.fd, unix.KVM_SET_TSS_ADDR, uintptr(gpa))
	return ioctlErr("KVM_SET_TSS_ADDR", err)
}

// SetIdentityMapAddr sets the guest-physical address of the one page Intel
// VMX needs for its real-mode identity map (KVM_SET_IDENTITY_MAP_ADDR).
func (vm *VM) SetIdentityMapAddr(gpa uint64) error {
	return ioctlErr("KVM_SET_IDENTITY_MAP_ADDR", setIdentityMapAddr(vm.fd, gpa))
}

// EnableCap enables a VM capability with up to four arguments
// (KVM_ENABLE_CAP).
func (vm *VM) EnableCap(c Cap, args ...uint64) error {
	if len(args) > 4 {
		return fmt.Errorf("KVM_ENABLE_CAP %d: %d arguments, at most 4", c, len(args))
	}
	ec := enableCap{Cap: uint32(c)}
	copy(ec.Args[:], args)
	return ioctlErr("KVM_ENABLE_CAP", enableCapIoctl(vm.fd, &ec))
}

// CreateVCPU creates VCPU id and maps its kvm_run region. The caller must
// Close the VCPU.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	var (
		fd  int
		err error
	)
	for {
		fd, err = unix.KVMIoctl(vm.fd, unix.KVM_CREATE_VCPU, uintptr(id))
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, ioctlErr("KVM_CREATE_VCPU", err)
	}
	unix.CloseOnExec(fd)
	mem, err := unix.Mmap(fd, 0, vm.mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap kvm_run of vcpu %d: %w", id, err)
	}
	return &VCPU{id: id, fd: fd, mem: mem, run: runFromMem(mem)}, nil
}
