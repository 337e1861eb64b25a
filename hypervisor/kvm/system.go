package kvm

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// DevicePath is the KVM device node.
const DevicePath = "/dev/kvm"

// APIVersion is the only stable KVM API version (KVM_API_VERSION).
const APIVersion = 12

// ErrAPIVersion is returned by Open when /dev/kvm speaks another API.
var ErrAPIVersion = errors.New("unsupported KVM API version")

// IoctlError is the error of a failed KVM ioctl.
type IoctlError struct {
	// Op names the ioctl ("KVM_RUN", "KVM_SET_SREGS").
	Op string
	// Err is the errno.
	Err error
}

func (e *IoctlError) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *IoctlError) Unwrap() error { return e.Err }

func ioctlErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &IoctlError{Op: op, Err: err}
}

// Cap is a KVM capability number for KVM_CHECK_EXTENSION and
// KVM_ENABLE_CAP (KVM_CAP_*).
type Cap uintptr

// Capabilities the VMM probes. Values from include/uapi/linux/kvm.h.
const (
	CapUserMemory      Cap = 3
	CapSetTSSAddr      Cap = 4
	CapExtCPUID        Cap = 7
	CapNrVCPUs         Cap = 9
	CapNrMemslots      Cap = 10
	CapSetGuestDebug   Cap = 23
	CapXSave           Cap = 55
	CapXCRs            Cap = 56
	CapMaxVCPUs        Cap = 66
	CapSyncRegs        Cap = 74
	CapImmediateExit   Cap = 136
	CapXSave2          Cap = 208
	CapPMUCapability   Cap = 212
	CapX86UserSpaceMSR Cap = 188
)

// System is an open /dev/kvm.
type System struct {
	fd int
}

// Open opens /dev/kvm and checks the API version. The caller must Close
// the System (after the VMs created from it, which hold their own fds).
func Open() (*System, error) {
	fd, err := unix.Open(DevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", DevicePath, err)
	}
	s := &System{fd: fd}
	v, err := unix.KVMIoctl(fd, unix.KVM_GET_API_VERSION, 0)
	if err != nil {
		s.Close()
		return nil, ioctlErr("KVM_GET_API_VERSION", err)
	}
	if v != APIVersion {
		s.Close()
		return nil, fmt.Errorf("%w: %d, want %d", ErrAPIVersion, v, APIVersion)
	}
	return s, nil
}

// Close closes /dev/kvm. It is safe to call more than once.
func (s *System) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// CheckExtension returns KVM_CHECK_EXTENSION for c: 0 when absent,
// otherwise a capability-specific positive value.
func (s *System) CheckExtension(c Cap) (int, error) {
	v, err := unix.KVMIoctl(s.fd, unix.KVM_CHECK_EXTENSION, uintptr(c))
	return v, ioctlErr("KVM_CHECK_EXTENSION", err)
}

// VCPUMmapSize returns the size of the region each VCPU fd mmaps
// (struct kvm_run plus its data pages).
func (s *System) VCPUMmapSize() (int, error) {
	v, err := unix.KVMIoctl(s.fd, unix.KVM_GET_VCPU_MMAP_SIZE, 0)
	return v, ioctlErr("KVM_GET_VCPU_MMAP_SIZE", err)
}

// SupportedCPUID returns the CPUID leaves KVM can expose to a guest
// (KVM_GET_SUPPORTED_CPUID).
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	for n := 128; n <= 4096; n *= 2 {
		ents, err := getCPUID(s.fd, n)
		if errors.Is(err, unix.E2BIG) {
			continue
		}
		return ents, ioctlErr("KVM_GET_SUPPORTED_CPUID", err)
	}
	return nil, ioctlErr("KVM_GET_SUPPORTED_CPUID", unix.E2BIG)
}

// CreateVM creates a VM. The VM has its own fd and must be closed by the
// caller.
func (s *System) CreateVM() (*VM, error) {
	var (
		fd  int
		err error
	)
	for {
		// KVM_CREATE_VM may fail with EINTR when a signal arrives
		// while the kernel sets the VM up.
		fd, err = unix.KVMIoctl(s.fd, unix.KVM_CREATE_VM, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, ioctlErr("KVM_CREATE_VM", err)
	}
	unix.CloseOnExec(fd)
	mmapSize, err := s.VCPUMmapSize()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &VM{fd: fd, mmapSize: mmapSize}, nil
}
