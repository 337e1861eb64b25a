package hypervisor

import (
	"errors"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// leafOf returns the leaf flags of gva (0 if not present) and its target.
func leafOf(t *testing.T, m *MM, gva uint64) (flags, gpa uint64) {
	t.Helper()
	e, ok := m.pt.translate(gva)
	if !ok {
		return 0, 0
	}
	return e &^ pteAddrMask, e & pteAddrMask
}

// TestMMLeavesFollowProtection: mmap, mprotect, munmap and brk set the
// leaves the guest's own accesses meet, keep each page's binding, and
// count an invalidation exactly when access was taken away.
func TestMMLeavesFollowProtection(t *testing.T) {
	m := newTestMM(t, 0)
	a, err := m.Mmap(anon(4*pageSize, rw))
	if err != nil {
		t.Fatal(err)
	}
	rwFlags, gpa := leafOf(t, m, a)
	if rwFlags != protPTE(rw) || rwFlags&pteNX == 0 || rwFlags&pteWrite == 0 {
		t.Fatalf("RW leaf flags %#x, want %#x", rwFlags, protPTE(rw))
	}
	inval := func() uint64 { return m.Stats().Invalidations }
	steps := []struct {
		name        string
		do          func() error
		page        uint64 // which page to look at
		flags       uint64
		invalidates bool // whether an invalidation must be counted
	}{
		{"PROT_READ", func() error { return m.Mprotect(a, 2*pageSize, unix.PROT_READ) }, 1, protPTE(unix.PROT_READ), true},
		{"back to RW", func() error { return m.Mprotect(a, 2*pageSize, rw) }, 1, protPTE(rw), false},
		{"RX", func() error { return m.Mprotect(a, pageSize, unix.PROT_READ|unix.PROT_EXEC) }, 0, ptePresent | pteUser | pteAccessed, true},
		{"RWX", func() error { return m.Mprotect(a, pageSize, rw|unix.PROT_EXEC) }, 0, pteUserRWX, false},
		{"PROT_NONE", func() error { return m.Mprotect(a+2*pageSize, pageSize, unix.PROT_NONE) }, 2, 0, true},
		{"PROT_NONE again", func() error { return m.Mprotect(a+2*pageSize, pageSize, unix.PROT_NONE) }, 2, 0, false},
		{"PROT_NONE to RW", func() error { return m.Mprotect(a+2*pageSize, pageSize, rw) }, 2, protPTE(rw), false},
		{"munmap", func() error { return m.Munmap(a+3*pageSize, pageSize) }, 3, 0, false},
	}
	for _, s := range steps {
		before := inval()
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		f, g := leafOf(t, m, a+s.page*pageSize)
		if f != s.flags {
			t.Errorf("%s: leaf flags %#x, want %#x", s.name, f, s.flags)
		}
		if f != 0 && g != gpa+s.page*pageSize {
			t.Errorf("%s: leaf targets %#x, want the fixed binding %#x", s.name, g, gpa+s.page*pageSize)
		}
		if got := inval() - before; (got != 0) != s.invalidates {
			t.Errorf("%s: %d invalidations, want some: %v", s.name, got, s.invalidates)
		}
	}
	// Mapping the hole again sets the leaf to the same binding.
	if _, err := m.Mmap(mmapRequest{addr: a + 3*pageSize, length: pageSize, prot: unix.PROT_READ, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}); err != nil {
		t.Fatal(err)
	}
	if f, g := leafOf(t, m, a+3*pageSize); f != protPTE(unix.PROT_READ) || g != gpa+3*pageSize {
		t.Errorf("re-mapped leaf %#x -> %#x, want %#x -> %#x", f, g, protPTE(unix.PROT_READ), gpa+3*pageSize)
	}
	// A PROT_NONE file mapping is bound with no leaf; mprotect adds it.
	src := strFile("file contents")
	fa, err := m.Mmap(mmapRequest{length: pageSize, prot: unix.PROT_NONE, flags: unix.MAP_PRIVATE, src: src})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := leafOf(t, m, fa); f != 0 {
		t.Errorf("PROT_NONE file mapping has leaf flags %#x", f)
	}
	if err := m.Mprotect(fa, pageSize, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if f, _ := leafOf(t, m, fa); f != protPTE(unix.PROT_READ) {
		t.Errorf("file mapping after PROT_READ: leaf flags %#x", f)
	}
	// brk: growing maps RW, shrinking clears.
	m.setBrk(0x1000_0000)
	if got := m.Brk(0x1000_0000 + 2*pageSize); got != 0x1000_0000+2*pageSize {
		t.Fatalf("brk grow = %#x", got)
	}
	if f, _ := leafOf(t, m, 0x1000_0000+pageSize); f != protPTE(rw) {
		t.Errorf("heap leaf %#x", f)
	}
	m.Brk(0x1000_0000 + pageSize)
	if f, _ := leafOf(t, m, 0x1000_0000+pageSize); f != 0 {
		t.Errorf("heap leaf after shrinking %#x, want cleared", f)
	}
}

// TestSetLeaf: setLeaf changes flags but never the target, and clearing
// a page that was never mapped is a no-op.
func TestSetLeaf(t *testing.T) {
	pt, err := newPageTable(newFakePhys())
	if err != nil {
		t.Fatal(err)
	}
	if old, err := pt.setLeaf(0x400000, 0x1_0000_0000, 0); err != nil || old != 0 {
		t.Errorf("clear unmapped: %#x, %v", old, err)
	}
	if _, err := pt.setLeaf(0x400000, 0x1_0000_0000, pteUserRWX); err != nil {
		t.Fatal(err)
	}
	old, err := pt.setLeaf(0x400000, 0x1_0000_0000, protPTE(unix.PROT_READ))
	if err != nil || old != 0x1_0000_0000|pteUserRWX {
		t.Errorf("write-protect: old %#x, %v", old, err)
	}
	if !lostAccess(old, 0x1_0000_0000|protPTE(unix.PROT_READ)) || lostAccess(0x1_0000_0000|protPTE(unix.PROT_READ), old) {
		t.Error("lostAccess wrong for W and NX changes")
	}
	if _, err := pt.setLeaf(0x400000, 0x1_0000_5000, pteUserRWX); !errors.Is(err, errPresentPTE) {
		t.Errorf("re-target: %v, want errPresentPTE", err)
	}
	if _, err := pt.setLeaf(0x400000, 0x1_0000_5000, 0); !errors.Is(err, errPresentPTE) {
		t.Errorf("clear with another target: %v, want errPresentPTE", err)
	}
	if _, err := pt.setLeaf(0x400000, 0x1_0000_0000, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := pt.translate(0x400000); ok {
		t.Error("cleared leaf still translates")
	}
	if _, err := pt.setLeaf(0x400001, 0x1_0000_0000, pteUserRWX); err == nil {
		t.Error("unaligned address accepted")
	}
}

// FuzzMMOperations runs arbitrary sequences of mmap, munmap, mprotect,
// madvise, brk and mremap with arbitrary arguments: no panics, errors are
// errnos, and the leaves always match the VMA table.
func FuzzMMOperations(f *testing.F) {
	f.Add([]byte{0, 1, 3, 2, 1, 1, 2, 2, 1, 0, 3, 1, 1, 4, 2, 0})
	f.Add([]byte{0, 0, 16, 2, 2, 0, 2, 7, 1, 0, 1, 1, 4, 9, 0, 0})
	f.Add([]byte{0, 0, 8, 0x13, 5, 0, 4, 0x81, 5, 2, 2, 0x33, 5, 1, 3, 0x27, 2, 0, 2, 0, 5, 0, 2, 0x87})
	f.Fuzz(fuzzMMBody)
}

// fuzzMMBody is FuzzMMOperations' body: groups of four bytes (operation,
// page, pages, protection and flags). For mremap the fourth byte gives
// the flags (low three bits), the new size in pages (high four bits)
// and the new address (the byte as a page number).
func fuzzMMBody(t *testing.T, ops []byte) {
	m := newTestMM(t, 64*pageSize)
	m.setBrk(0x2000_0000)
	const base = 0x1000_0000
	for len(ops) >= 4 {
		op, a, n, p := ops[0], ops[1], ops[2], ops[3]
		ops = ops[4:]
		addr := base + uint64(a)*pageSize
		if a == 255 {
			addr = base + 1 // unaligned
		}
		length := uint64(n) * pageSize
		if n == 255 {
			length = 1<<64 - pageSize // overflow
		}
		prot := int(p) & 0xf
		var err error
		switch op % 6 {
		case 0:
			flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
			if p&0x10 != 0 {
				flags |= unix.MAP_FIXED
			}
			_, err = m.Mmap(mmapRequest{addr: addr, length: length, prot: prot, flags: flags})
		case 1:
			err = m.Munmap(addr, length)
		case 2:
			err = m.Mprotect(addr, length, prot)
		case 3:
			err = m.Madvise(addr, length, int(p)%10)
		case 4:
			m.Brk(0x2000_0000 + uint64(a)*pageSize + uint64(n))
		case 5:
			_, err = m.Mremap(addr, length, uint64(p>>4)*pageSize, uint64(p&7), base+uint64(p)*pageSize)
		}
		var e unix.Errno
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("op %d: error %v is not an errno", op%6, err)
		}
		checkMMInvariants(t, m)
	}
}

// TestMprotectFailsCleanly: an mprotect that runs out of guest-physical
// memory half-way (the first page's leaf set, the second needing a page
// table that cannot be allocated) fails with ENOMEM and leaves no leaf
// beyond what the VMA table allows.
func TestMprotectFailsCleanly(t *testing.T) {
	m := newTestMM(t, 0)
	free := func() uint64 { st := m.Stats(); return (st.PhysCapacity - st.PhysUsed) / pageSize }
	fixed := func(addr, pages uint64, prot int) error {
		_, err := m.Mmap(mmapRequest{addr: addr, length: pages * pageSize, prot: prot, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED})
		return err
	}
	// x is the last page of a 2 MiB block whose page table exists; x+1
	// page starts the next block, which has none.
	const block = 0x2000_0000
	x := uint64(block - pageSize)
	if err := fixed(block-2<<20, 1, rw); err != nil {
		t.Fatal(err)
	}
	if err := fixed(x, 2, unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	// Use up guest-physical memory until two pages are left.
	next := uint64(0x1_0000_0000)
	for f := free(); f > 400; f = free() {
		n := f - f/400 - 16
		if err := fixed(next, n, rw); err != nil {
			t.Fatal(err)
		}
		next += n * pageSize
	}
	for a := uint64(block - 2<<20 + pageSize); free() > 2; a += pageSize {
		if err := fixed(a, 1, rw); err != nil {
			t.Fatal(err)
		}
	}
	if f := free(); f != 2 {
		t.Fatalf("%d pages left, want 2", f)
	}
	if err := m.Mprotect(x, 2*pageSize, rw); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("mprotect with no page-table page left: %v, want ENOMEM", err)
	}
	if f, _ := leafOf(t, m, x); f != 0 {
		t.Errorf("leaf of the PROT_NONE page after the failed mprotect: %#x", f)
	}
	checkMMInvariants(t, m)
}
