package hypervisor

import (
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu/virt"
)

// The virtual PMU's part of the VMM area (docs/vpmu-abi.md). Unlike the
// rest of the area these pages are user-accessible: the state pages
// user-readable, so that guest code reads its counters without a trap,
// and the calibration stub user-executable. They are outside every VMA,
// so system calls given their addresses fail with EFAULT; guest writes
// to them fault.
const (
	// vpmuCalibGVA holds the calibration stub (one page, user RX),
	// inside [vmmBase, vmmEnd) so that it is never a safe point.
	vpmuCalibGVA = vmmBase + 0x6000
	// vpmuVCPUGVA is VCPU state page 0; page i is at +i*pageSize
	// (virt.MaxVCPUs pages reserved, one per VCPU mapped).
	vpmuVCPUGVA = vmmBase + 0x100000
	// vpmuThreadGVA is thread state page slot 0; slot i is at
	// +i*pageSize.
	vpmuThreadGVA = vpmuVCPUGVA + virt.MaxVCPUs*pageSize
	// vpmuMaxThreads bounds the thread page pool: a clone beyond it
	// fails with EAGAIN, like a thread limit.
	vpmuMaxThreads = 16384

	// pteUserRO is a state page: present, user, read-only, not
	// executable.
	pteUserRO = ptePresent | pteUser | pteAccessed | pteNX
	// pteUserRX is the calibration stub.
	pteUserRX = ptePresent | pteUser | pteAccessed
)

// mapVCPUPages maps one state page per VCPU.
func (p *vpmu) mapVCPUPages(n int) error {
	mm := p.vm.m.mm
	if err := mm.mapVMM(vpmuVCPUGVA, uint64(n)*pageSize, pteUserRO, nil); err != nil {
		return fmt.Errorf("vpmu: map VCPU state pages: %w", err)
	}
	for i := 0; i < n; i++ {
		page, err := hostPage(mm, vpmuVCPUGVA+uint64(i)*pageSize)
		if err != nil {
			return err
		}
		p.vcpuPages = append(p.vcpuPages, asVCPUPage(page))
	}
	return nil
}

// mapCalibStub installs the calibration stub.
func (p *vpmu) mapCalibStub() error {
	if err := p.vm.m.mm.mapVMM(vpmuCalibGVA, pageSize, pteUserRX, calibStub); err != nil {
		return fmt.Errorf("vpmu: map calibration stub: %w", err)
	}
	return nil
}

// threadPagePool hands out thread state pages. A slot's page is mapped
// the first time the slot is used and stays mapped (present PTEs never
// change); a slot freed by an exited thread is reused, its page
// rewritten by the VMM. vpmu.mu protects it.
type threadPagePool struct {
	free []int
	next int
}

// errNoThreadPage means the thread page pool is exhausted.
var errNoThreadPage = fmt.Errorf("vpmu: all %d thread state pages in use: %w", vpmuMaxThreads, unix.EAGAIN)

// allocThreadPage returns a free slot, its guest address and the host
// view of its page. Called with p.mu held.
func (p *vpmu) allocThreadPage() (int, uint64, *virt.ThreadPage, error) {
	pool := &p.pages
	var slot int
	if n := len(pool.free); n > 0 {
		slot = pool.free[n-1]
		pool.free = pool.free[:n-1]
	} else {
		if pool.next >= vpmuMaxThreads {
			return 0, 0, nil, errNoThreadPage
		}
		slot = pool.next
		gva := vpmuThreadGVA + uint64(slot)*pageSize
		if err := p.vm.m.mm.mapVMM(gva, pageSize, pteUserRO, nil); err != nil {
			return 0, 0, nil, fmt.Errorf("vpmu: map thread state page %d: %w", slot, err)
		}
		pool.next++
	}
	gva := vpmuThreadGVA + uint64(slot)*pageSize
	page, err := hostPage(p.vm.m.mm, gva)
	if err != nil {
		pool.free = append(pool.free, slot)
		return 0, 0, nil, err
	}
	return slot, gva, asThreadPage(page), nil
}

// freeThreadPage returns a slot to the pool. Called with p.mu held.
func (p *vpmu) freeThreadPage(slot int) { p.pages.free = append(p.pages.free, slot) }

// hostPage returns the host view of the bound VMM-area page at gva. The
// guest-physical mapping behind it stays for the life of the VM.
func hostPage(mm *MM, gva uint64) ([]byte, error) {
	mm.mu.RLock()
	b, err := mm.hostBytes(gva, pageSize)
	mm.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("vpmu: state page %#x: %w", gva, err)
	}
	return b, nil
}
