package hypervisor

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vpmu/vpmu/internal/unix"
)

// errPhysExhausted is returned when guest-physical memory has no page
// left to bind; system calls turn it into ENOMEM.
var errPhysExhausted = errors.New("guest-physical memory exhausted")

// physSlotSize is the size of each KVM memory slot. Slots are registered
// as the allocator first reaches them, so KVM's per-slot metadata grows
// with use.
const physSlotSize = 1 << 30

// slotAdder registers one memory slot with KVM. It is nil in tests that
// exercise memory management without a VM.
type slotAdder func(slot int, gpa uint64, host []byte) error

// physMem is guest-physical memory: one host mapping reserved up front
// with MAP_NORESERVE (the host backs a page on its first touch), handed
// out page by page by a bump allocator. A page, once allocated, is never
// freed: it stays bound to one guest-virtual page (mm_bind.go), and
// "freeing" it only gives its host backing back (release), after which it
// reads as zero.
//
// physMem is not safe for concurrent use; the MM's lock protects it.
type physMem struct {
	host    []byte
	next    uint64 // bytes allocated so far
	slots   int    // slots registered with KVM
	addSlot slotAdder
	// readFlip makes invalidate flip pages to PROT_READ rather than add
	// PROT_EXEC (set when the host refuses PROT_EXEC, or by tests).
	readFlip bool
	// flipping is odd while invalidate has pages at PROT_READ; it grows
	// by two per flip. VCPUs read it without the MM's lock.
	flipping atomic.Uint64
}

// newPhysMem reserves size bytes (rounded up to whole slots) of host
// address space.
func newPhysMem(size uint64, addSlot slotAdder) (*physMem, error) {
	size = (size + physSlotSize - 1) &^ (physSlotSize - 1)
	host, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserve %d MiB of guest-physical memory: %w", size>>20, err)
	}
	return &physMem{host: host, addSlot: addSlot}, nil
}

// close unmaps the host reservation. KVM must no longer use it (the VM
// is closed or its slots deleted).
func (p *physMem) close() error {
	if p.host == nil {
		return nil
	}
	err := unix.Munmap(p.host)
	p.host = nil
	return err
}

// capacity is the number of bytes the reservation can hand out.
func (p *physMem) capacity() uint64 { return uint64(len(p.host)) }

// allocated is the number of bytes handed out.
func (p *physMem) allocated() uint64 { return p.next }

// alloc hands out n contiguous pages and returns the GPA of the first.
// The pages read as zero.
func (p *physMem) alloc(n uint64) (uint64, error) {
	size := n * pageSize
	if n == 0 || size/pageSize != n || p.next+size > uint64(len(p.host)) || p.next+size < p.next {
		return 0, errPhysExhausted
	}
	off := p.next
	for p.addSlot != nil && uint64(p.slots)*physSlotSize < off+size {
		base := uint64(p.slots) * physSlotSize
		if err := p.addSlot(p.slots, gpaBase+base, p.host[base:base+physSlotSize]); err != nil {
			return 0, fmt.Errorf("add guest memory slot %d: %w", p.slots, err)
		}
		p.slots++
	}
	p.next += size
	return gpaBase + off, nil
}

// bytes returns the host view of [gpa, gpa+n). The range must have been
// allocated.
func (p *physMem) bytes(gpa, n uint64) []byte {
	off := gpa - gpaBase
	return p.host[off : off+n : off+n]
}

// page returns the host view of the page at gpa.
func (p *physMem) page(gpa uint64) []byte { return p.bytes(gpa&^pageMask, pageSize) }

// release gives the host backing of n pages at gpa back to the host
// (MADV_DONTNEED); they read as zero when next touched, by the guest or
// the VMM. KVM's MMU notifier drops its translations of them.
func (p *physMem) release(gpa, n uint64) error {
	if n == 0 {
		return nil
	}
	if err := unix.Madvise(p.bytes(gpa, n*pageSize), unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("madvise(MADV_DONTNEED) guest-physical %#x+%d pages: %w", gpa, n, err)
	}
	return nil
}

// allocTable implements ptMemory: a fresh page from the bump allocator
// has never been touched and reads as zero.
func (p *physMem) allocTable() (uint64, error) { return p.alloc(1) }

// invalidate makes KVM drop its translations of n pages at gpa, keeping
// their contents: it changes the host protection of their view and
// changes it back, and the protection change fires KVM's MMU notifier
// on the range. Adding PROT_EXEC keeps the pages writable throughout, so
// a VCPU touching them meanwhile never sees a host fault. If the host
// refuses executable anonymous memory (EACCES or EPERM: an SELinux
// execmem policy, say), invalidate flips the pages to PROT_READ and back
// instead, from then on; a VCPU that writes them during the flip gets
// EFAULT from KVM_RUN, which flipRaced tells the VCPU loop to retry.
func (p *physMem) invalidate(gpa, n uint64) error {
	if n == 0 {
		return nil
	}
	b := p.bytes(gpa, n*pageSize)
	if !p.readFlip {
		err := unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC)
		if err == nil {
			err = unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE)
		}
		if err != unix.EACCES && err != unix.EPERM {
			if err != nil {
				return fmt.Errorf("mprotect guest-physical %#x+%d pages: %w", gpa, n, err)
			}
			return nil
		}
		p.readFlip = true
	}
	p.flipping.Add(1)
	defer p.flipping.Add(1)
	err := unix.Mprotect(b, unix.PROT_READ)
	if err == nil {
		err = unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE)
	}
	if err != nil {
		return fmt.Errorf("mprotect guest-physical %#x+%d pages: %w", gpa, n, err)
	}
	return nil
}

// flipRaced reports whether a KVM_RUN that failed with EFAULT may have
// written a page during a PROT_READ flip (invalidate): one was under way
// or has happened since gen was read from p.flipping. It waits for the
// MM's lock, so the flip is over when it returns true. Safe for
// concurrent use.
func (m *MM) flipRaced(gen uint64) bool {
	if m.phys.flipping.Load() == gen && gen&1 == 0 {
		return false
	}
	// The flip runs under the MM's write lock: taking the read lock
	// waits for it to end.
	m.mu.RLock()
	//lint:ignore SA2001 the empty section is the wait
	m.mu.RUnlock()
	return true
}
