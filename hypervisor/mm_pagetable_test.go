package hypervisor

import (
	"errors"
	"testing"
)

// fakePhys is guest-physical memory backed by a map, for page-table tests.
type fakePhys struct {
	pages map[uint64][]byte
	next  uint64
}

func newFakePhys() *fakePhys { return &fakePhys{pages: map[uint64][]byte{}, next: 0x1000} }

func (f *fakePhys) page(gpa uint64) []byte {
	p, ok := f.pages[gpa&^pageMask]
	if !ok {
		p = make([]byte, pageSize)
		f.pages[gpa&^pageMask] = p
	}
	return p
}

func (f *fakePhys) allocTable() (uint64, error) {
	g := f.next
	f.next += pageSize
	return g, nil
}

func TestPageTableMapAndTranslate(t *testing.T) {
	mem := newFakePhys()
	pt, err := newPageTable(mem)
	if err != nil {
		t.Fatal(err)
	}
	maps := []struct{ gva, gpa, flags uint64 }{
		{0x400000, 0x1_0000_0000, pteUserRWX},
		{0x401000, 0x1_0000_5000, pteUserRWX},
		{0x7fff_7fff_f000, 0x1_0000_6000, pteUserRWX},
		{gdtGVA, 0x1_0000_7000, ptePresent | pteNX},
	}
	for _, mp := range maps {
		if err := pt.mapPage(mp.gva, mp.gpa, mp.flags); err != nil {
			t.Fatalf("mapPage(%#x): %v", mp.gva, err)
		}
	}
	for _, mp := range maps {
		pte, ok := pt.translate(mp.gva)
		if !ok || pte&pteAddrMask != mp.gpa || pte&^pteAddrMask != mp.flags|ptePresent {
			t.Errorf("translate(%#x) = %#x, %v; want %#x with flags %#x", mp.gva, pte, ok, mp.gpa, mp.flags)
		}
	}
	// 0x400000 and 0x401000 share all tables: PML4 + PDPT + PD + PT = 4.
	// The top user page needs its own PDPT, PD and PT; the VMM area
	// shares that PDPT but not the PD (it starts a new GiB).
	if pt.tables != 4+3+2 {
		t.Errorf("tables = %d, want 9", pt.tables)
	}
	if _, ok := pt.translate(0x402000); ok {
		t.Error("unmapped page translates")
	}
	if _, ok := pt.translate(0x8000_0000_0000); ok {
		t.Error("non-canonical address translates")
	}
	// Same mapping again: fine. Another target: refused, entry unchanged.
	if err := pt.mapPage(0x400000, 0x1_0000_0000, pteUserRWX); err != nil {
		t.Errorf("idempotent remap: %v", err)
	}
	if err := pt.mapPage(0x400000, 0x1_0000_9000, pteUserRWX); !errors.Is(err, errPresentPTE) {
		t.Errorf("re-target of a present PTE: err = %v, want errPresentPTE", err)
	}
	if err := pt.mapPage(0x400000, 0x1_0000_0000, ptePresent); !errors.Is(err, errPresentPTE) {
		t.Errorf("flag change of a present PTE: err = %v, want errPresentPTE", err)
	}
	if pte, _ := pt.translate(0x400000); pte&pteAddrMask != 0x1_0000_0000 {
		t.Errorf("present PTE changed to %#x", pte)
	}
	for _, bad := range []struct{ gva, gpa uint64 }{{0x400001, 0}, {0x400000, 0x123}, {0x8000_0000_0000, 0}} {
		if err := pt.mapPage(bad.gva, bad.gpa, pteUserRWX); err == nil {
			t.Errorf("mapPage(%#x, %#x) succeeded", bad.gva, bad.gpa)
		}
	}
}

func TestBindings(t *testing.T) {
	var b bindings
	b.add(0x10000, 0x100000, 2)
	b.add(0x12000, 0x102000, 1) // contiguous in both: merges
	b.add(0x20000, 0x200000, 1)
	b.add(0x13000, 0x300000, 1) // contiguous in GVA only: separate
	if len(b.ext) != 3 {
		t.Fatalf("extents = %+v, want 3", b.ext)
	}
	if gpa, run, ok := b.lookup(0x11800); !ok || gpa != 0x101800 || run != 0x1800 {
		t.Errorf("lookup(0x11800) = %#x, %#x, %v", gpa, run, ok)
	}
	if _, _, ok := b.lookup(0x14000); ok {
		t.Error("lookup of an unbound page succeeded")
	}
	var holes [][2]uint64
	b.unbound(0xf000, 0x22000, func(s, e uint64) error { holes = append(holes, [2]uint64{s, e}); return nil })
	want := [][2]uint64{{0xf000, 0x10000}, {0x14000, 0x20000}, {0x21000, 0x22000}}
	if len(holes) != len(want) {
		t.Fatalf("unbound runs = %x, want %x", holes, want)
	}
	for i := range want {
		if holes[i] != want[i] {
			t.Errorf("unbound run %d = %x, want %x", i, holes[i], want[i])
		}
	}
	var pages uint64
	b.bound(0x11000, 0x21000, func(gva, gpa, n uint64) error { pages += n; return nil })
	if pages != 3+1 { // 0x11000-0x14000 and the page at 0x20000
		t.Errorf("bound pages in range = %d, want 4", pages)
	}
	// Filling a hole between two extents merges all three.
	b.add(0x30000, 0x400000, 1)
	b.add(0x32000, 0x402000, 1)
	b.add(0x31000, 0x401000, 1)
	if i, _ := b.find(0x30000); b.ext[i].n != 3 {
		t.Errorf("hole fill did not merge: %+v", b.ext)
	}
	if b.pages() != 4+1+3 {
		t.Errorf("pages = %d", b.pages())
	}
}
