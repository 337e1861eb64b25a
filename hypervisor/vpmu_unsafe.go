package hypervisor

import (
	"unsafe"

	"github.com/vpmu/vpmu/pmu/virt"
)

// The state pages are views of guest memory: page-aligned, page-long
// byte slices of the guest-physical mapping, which stays mapped for the
// life of the VM. virt.VCPUPage and virt.ThreadPage are exactly a page
// long (pmu/virt checks the layout at compile time).

// asVCPUPage views a page as a VCPU state page.
func asVCPUPage(b []byte) *virt.VCPUPage {
	_ = b[virt.PageSize-1]
	return (*virt.VCPUPage)(unsafe.Pointer(unsafe.SliceData(b)))
}

// asThreadPage views a page as a thread state page.
func asThreadPage(b []byte) *virt.ThreadPage {
	_ = b[virt.PageSize-1]
	return (*virt.ThreadPage)(unsafe.Pointer(unsafe.SliceData(b)))
}
