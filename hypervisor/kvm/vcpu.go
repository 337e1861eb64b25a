package kvm

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// ErrInterrupted is returned by VCPU.Run when KVM_RUN ended with EINTR: a
// signal arrived (Go's runtime sends SIGURG) or ImmediateExit was set.
// Callers retry after looking at why they may have been kicked.
var ErrInterrupted = errors.New("KVM_RUN interrupted")

// VCPU is one KVM vcpu fd with its mmap'd kvm_run region.
//
// Its ioctls must be issued by one goroutine at a time; KVM is much
// faster when that is always the same OS thread, so the hypervisor
// package runs each VCPU on a goroutine locked to its thread.
// RequestImmediateExit may be called from any goroutine.
type VCPU struct {
	id  int
	fd  int
	mem []byte
	run *Run
}

// ID returns the VCPU id given to CreateVCPU.
func (v *VCPU) ID() int { return v.id }

// RunData returns the shared kvm_run structure. It is valid until Close.
// Its fields may be read and written between Run calls by the owning
// goroutine only.
func (v *VCPU) RunData() *Run { return v.run }

// Mem returns the whole mmap'd kvm_run region, for port I/O data at
// IOExit.DataOffset.
func (v *VCPU) Mem() []byte { return v.mem }

// Close unmaps kvm_run and closes the VCPU fd. It is safe to call more
// than once.
func (v *VCPU) Close() error {
	if v.fd < 0 {
		return nil
	}
	var errs []error
	if v.mem != nil {
		errs = append(errs, unix.Munmap(v.mem))
		v.mem, v.run = nil, nil
	}
	errs = append(errs, unix.Close(v.fd))
	v.fd = -1
	return errors.Join(errs...)
}

// Run enters the guest (KVM_RUN) and returns when it exits. On success
// the exit is described by RunData(). ErrInterrupted means no exit
// happened and the call should be retried.
func (v *VCPU) Run() error {
	switch e := unix.KVMRun(v.fd); e {
	case 0:
		return nil
	case unix.EINTR:
		return ErrInterrupted
	default:
		return &IoctlError{Op: "KVM_RUN", Err: e}
	}
}

// Regs reads the general registers (KVM_GET_REGS).
func (v *VCPU) Regs() (Regs, error) {
	var r Regs
	err := ioctlPtr(v.fd, unix.KVM_GET_REGS, ptrRegs(&r))
	return r, ioctlErr("KVM_GET_REGS", err)
}

// SetRegs writes the general registers (KVM_SET_REGS).
func (v *VCPU) SetRegs(r *Regs) error {
	return ioctlErr("KVM_SET_REGS", ioctlPtr(v.fd, unix.KVM_SET_REGS, ptrRegs(r)))
}

// Sregs reads the special registers (KVM_GET_SREGS).
func (v *VCPU) Sregs() (Sregs, error) {
	var s Sregs
	err := ioctlPtr(v.fd, unix.KVM_GET_SREGS, ptrSregs(&s))
	return s, ioctlErr("KVM_GET_SREGS", err)
}

// SetSregs writes the special registers (KVM_SET_SREGS).
func (v *VCPU) SetSregs(s *Sregs) error {
	return ioctlErr("KVM_SET_SREGS", ioctlPtr(v.fd, unix.KVM_SET_SREGS, ptrSregs(s)))
}

// Events reads pending exceptions and interrupts (KVM_GET_VCPU_EVENTS).
func (v *VCPU) Events() (VCPUEvents, error) {
	var e VCPUEvents
	err := ioctlPtr(v.fd, unix.KVM_GET_VCPU_EVENTS, ptrEvents(&e))
	return e, ioctlErr("KVM_GET_VCPU_EVENTS", err)
}

// XSave stores the FPU/SSE/AVX state into buf. With xsave2 set it uses
// KVM_GET_XSAVE2 and buf must be at least the size KVM_CHECK_EXTENSION
// (KVM_CAP_XSAVE2) reported; otherwise KVM_GET_XSAVE and XSaveLegacySize.
func (v *VCPU) XSave(buf []byte, xsave2 bool) error {
	op, req := "KVM_GET_XSAVE", uintptr(unix.KVM_GET_XSAVE)
	if xsave2 {
		op, req = "KVM_GET_XSAVE2", unix.KVM_GET_XSAVE2
	}
	if len(buf) < XSaveLegacySize {
		return fmt.Errorf("%s: buffer of %d bytes, need at least %d", op, len(buf), XSaveLegacySize)
	}
	return ioctlErr(op, ioctlPtr(v.fd, req, ptrBytes(buf)))
}

// SetXSave loads the FPU/SSE/AVX state from buf (KVM_SET_XSAVE; the
// kernel reads as many bytes as its XSAVE2 size, so buf must be that
// long).
func (v *VCPU) SetXSave(buf []byte) error {
	if len(buf) < XSaveLegacySize {
		return fmt.Errorf("KVM_SET_XSAVE: buffer of %d bytes, need at least %d", len(buf), XSaveLegacySize)
	}
	return ioctlErr("KVM_SET_XSAVE", ioctlPtr(v.fd, unix.KVM_SET_XSAVE, ptrBytes(buf)))
}

// XCRs reads the extended control registers (KVM_GET_XCRS).
func (v *VCPU) XCRs() (XCRs, error) {
	var x XCRs
	err := ioctlPtr(v.fd, unix.KVM_GET_XCRS, ptrXCRs(&x))
	return x, ioctlErr("KVM_GET_XCRS", err)
}

// SetXCRs writes the extended control registers (KVM_SET_XCRS).
func (v *VCPU) SetXCRs(x *XCRs) error {
	return ioctlErr("KVM_SET_XCRS", ioctlPtr(v.fd, unix.KVM_SET_XCRS, ptrXCRs(x)))
}

// SetGuestDebug configures debug exits (KVM_SET_GUEST_DEBUG).
func (v *VCPU) SetGuestDebug(d *GuestDebug) error {
	return ioctlErr("KVM_SET_GUEST_DEBUG", ioctlPtr(v.fd, unix.KVM_SET_GUEST_DEBUG, ptrGuestDebug(d)))
}

// SetCPUID sets the CPUID leaves the guest sees (KVM_SET_CPUID2).
func (v *VCPU) SetCPUID(ents []CPUIDEntry) error {
	return ioctlErr("KVM_SET_CPUID2", setCPUID(v.fd, ents))
}

// MSRs reads the MSRs whose indices are given (KVM_GET_MSRS). It fails
// with an error naming the first MSR KVM refused.
func (v *VCPU) MSRs(indices ...uint32) ([]MSREntry, error) {
	ents := make([]MSREntry, len(indices))
	for i, idx := range indices {
		ents[i].Index = idx
	}
	n, err := msrsIoctl(v.fd, unix.KVM_GET_MSRS, ents)
	if err != nil {
		return nil, ioctlErr("KVM_GET_MSRS", err)
	}
	if n != len(ents) {
		return nil, &IoctlError{Op: "KVM_GET_MSRS", Err: fmt.Errorf("MSR %#x refused", ents[n].Index)}
	}
	return ents, nil
}

// SetMSRs writes MSRs (KVM_SET_MSRS). It fails with an error naming the
// first MSR KVM refused.
func (v *VCPU) SetMSRs(ents ...MSREntry) error {
	n, err := msrsIoctl(v.fd, unix.KVM_SET_MSRS, ents)
	if err != nil {
		return ioctlErr("KVM_SET_MSRS", err)
	}
	if n != len(ents) {
		return &IoctlError{Op: "KVM_SET_MSRS", Err: fmt.Errorf("MSR %#x refused", ents[n].Index)}
	}
	return nil
}
