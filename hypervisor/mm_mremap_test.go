package hypervisor

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// fixedAnon maps pages anonymous pages at addr with MAP_FIXED.
func fixedAnon(t *testing.T, m *MM, addr, pages uint64, prot int) {
	t.Helper()
	if _, err := m.Mmap(mmapRequest{addr: addr, length: pages * pageSize, prot: prot, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}); err != nil {
		t.Fatalf("mmap %#x: %v", addr, err)
	}
}

// pattern returns n bytes that differ per page and offset.
func pattern(n uint64, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/pageSize)*17 + byte(i) + seed
	}
	return b
}

// wantVMAs checks the VMA table's ranges and protections.
func wantVMAs(t *testing.T, m *MM, want ...vma) {
	t.Helper()
	if len(m.vmas.v) != len(want) {
		t.Fatalf("VMAs %+v, want %+v", m.vmas.v, want)
	}
	for i, w := range want {
		if g := m.vmas.v[i]; g.start != w.start || g.end != w.end || g.prot != w.prot || g.name != w.name || g.off != w.off || g.shared != w.shared {
			t.Errorf("VMA %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestMremapShrinkGrowMove: a shrink unmaps the tail in place, a grow
// with free pages after the mapping stays in place, and a grow that is
// blocked moves: the contents follow, the new leaves carry the VMA's
// protection, the old range is unmapped with its leaves cleared, and the
// VCPUs were made to drop their translations of it.
func TestMremapShrinkGrowMove(t *testing.T) {
	m := newTestMM(t, 0)
	const a = 0x1000_0000
	fixedAnon(t, m, a, 4, rw)
	data := pattern(4*pageSize, 1)
	if err := m.CopyOut(a, data); err != nil {
		t.Fatal(err)
	}
	_, gpa := leafOf(t, m, a)

	// Shrink to 2 pages.
	if got, err := m.Mremap(a, 4*pageSize, 2*pageSize, 0, 0); err != nil || got != a {
		t.Fatalf("shrink = %#x, %v", got, err)
	}
	wantVMAs(t, m, vma{start: a, end: a + 2*pageSize, prot: rw})
	if f, _ := leafOf(t, m, a+3*pageSize); f != 0 {
		t.Errorf("leaf of the dropped tail: %#x", f)
	}
	checkMMInvariants(t, m)

	// Grow in place to 5 pages: the same bindings, zero new pages.
	if got, err := m.Mremap(a, 2*pageSize, 5*pageSize, 0, 0); err != nil || got != a {
		t.Fatalf("grow in place = %#x, %v", got, err)
	}
	wantVMAs(t, m, vma{start: a, end: a + 5*pageSize, prot: rw})
	if _, g := leafOf(t, m, a); g != gpa {
		t.Errorf("grow in place re-targeted page 0: %#x, want %#x", g, gpa)
	}
	got := make([]byte, 5*pageSize)
	m.CopyIn(a, got)
	want := append(append([]byte(nil), data[:2*pageSize]...), make([]byte, 3*pageSize)...)
	if !bytes.Equal(got, want) {
		t.Error("contents after growing in place differ")
	}
	checkMMInvariants(t, m)

	// Blocked by a read-only page: without MAYMOVE ENOMEM, with it a move.
	fixedAnon(t, m, a+5*pageSize, 1, unix.PROT_READ)
	if _, err := m.Mremap(a, 5*pageSize, 8*pageSize, 0, 0); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("blocked grow without MAYMOVE: %v, want ENOMEM", err)
	}
	m.Mprotect(a, 5*pageSize, unix.PROT_READ)
	inval := m.Stats().Invalidations
	to, err := m.Mremap(a, 5*pageSize, 8*pageSize, mremapMaymove, 0)
	if err != nil || to == a {
		t.Fatalf("grow with MAYMOVE = %#x, %v", to, err)
	}
	if m.Stats().Invalidations == inval {
		t.Error("moving took the old range's access away without an invalidation")
	}
	wantVMAs(t, m, vma{start: a + 5*pageSize, end: a + 6*pageSize, prot: unix.PROT_READ},
		vma{start: to, end: to + 8*pageSize, prot: unix.PROT_READ})
	got = make([]byte, 8*pageSize)
	if err := m.CopyIn(to, got); err != nil {
		t.Fatal(err)
	}
	want = append(want, make([]byte, 3*pageSize)...)
	if !bytes.Equal(got, want) {
		t.Error("contents after the move differ")
	}
	if f, _ := leafOf(t, m, to+7*pageSize); f != protPTE(unix.PROT_READ) {
		t.Errorf("leaf of the moved mapping: %#x, want %#x", f, protPTE(unix.PROT_READ))
	}
	for p := uint64(a); p < a+5*pageSize; p += pageSize {
		if f, _ := leafOf(t, m, p); f != 0 {
			t.Errorf("leaf of old page %#x: %#x, want cleared", p, f)
		}
	}
	if err := m.CopyIn(a, got[:1]); !errors.Is(err, unix.EFAULT) {
		t.Errorf("read of the old range: %v, want EFAULT", err)
	}
	if st := m.Stats(); st.Committed != 9*pageSize {
		t.Errorf("committed %d, want %d", st.Committed, 9*pageSize)
	}
	checkMMInvariants(t, m)
	// Mapping the old range again reads zero: the move released it.
	fixedAnon(t, m, a, 5, rw)
	m.CopyIn(a, got[:5*pageSize])
	if !bytes.Equal(got[:5*pageSize], make([]byte, 5*pageSize)) {
		t.Error("old range mapped again is not zero")
	}
}

// TestMremapFixedAndDontunmap: MREMAP_FIXED replaces the target
// mapping; MREMAP_DONTUNMAP leaves the old range mapped, reading zero,
// and counts both ranges against the cap.
func TestMremapFixedAndDontunmap(t *testing.T) {
	m := newTestMM(t, 20*pageSize)
	const a, b = 0x1000_0000, 0x2000_0000
	fixedAnon(t, m, a, 3, rw)
	fixedAnon(t, m, b, 6, unix.PROT_READ)
	data := pattern(3*pageSize, 2)
	m.CopyOut(a, data)
	if got, err := m.Mremap(a, 3*pageSize, 4*pageSize, mremapMaymove|mremapFixed, b+pageSize); err != nil || got != b+pageSize {
		t.Fatalf("FIXED = %#x, %v", got, err)
	}
	wantVMAs(t, m, vma{start: b, end: b + pageSize, prot: unix.PROT_READ},
		vma{start: b + pageSize, end: b + 5*pageSize, prot: rw},
		vma{start: b + 5*pageSize, end: b + 6*pageSize, prot: unix.PROT_READ})
	got := make([]byte, 3*pageSize)
	if m.CopyIn(b+pageSize, got); !bytes.Equal(got, data) {
		t.Error("contents after the FIXED move differ")
	}
	if st := m.Stats(); st.Committed != 6*pageSize {
		t.Errorf("committed %d after FIXED, want %d", st.Committed, 6*pageSize)
	}
	checkMMInvariants(t, m)

	to, err := m.Mremap(b+pageSize, 4*pageSize, 4*pageSize, mremapMaymove|mremapDontunmap, 0)
	if err != nil {
		t.Fatalf("DONTUNMAP: %v", err)
	}
	if m.CopyIn(to, got); !bytes.Equal(got, data) {
		t.Error("contents after the DONTUNMAP move differ")
	}
	if m.CopyIn(b+pageSize, got); !bytes.Equal(got, make([]byte, len(got))) {
		t.Error("old range after DONTUNMAP is not zero")
	}
	if f, _ := leafOf(t, m, b+pageSize); f != protPTE(rw) {
		t.Errorf("old range's leaf after DONTUNMAP: %#x, want %#x", f, protPTE(rw))
	}
	if st := m.Stats(); st.Committed != 10*pageSize {
		t.Errorf("committed %d after DONTUNMAP, want %d", st.Committed, 10*pageSize)
	}
	checkMMInvariants(t, m)
	// At the cap (20 pages): a DONTUNMAP of 10 more pages, a grow by 11.
	fixedAnon(t, m, 0x3000_0000, 10, unix.PROT_NONE)
	m.Mprotect(0x3000_0000, 10*pageSize, rw)
	if _, err := m.Mremap(0x3000_0000, 10*pageSize, 10*pageSize, mremapMaymove|mremapDontunmap, 0); !errors.Is(err, errMremapOverCap) {
		t.Errorf("DONTUNMAP over the cap: %v, want errMremapOverCap", err)
	}
	if _, err := m.Mremap(0x3000_0000, 10*pageSize, 21*pageSize, mremapMaymove, 0); !errors.Is(err, errMremapOverCap) {
		t.Errorf("grow over the cap: %v, want errMremapOverCap", err)
	}
	// A move that does not grow stays within the cap.
	if _, err := m.Mremap(0x3000_0000, 10*pageSize, 10*pageSize, mremapMaymove|mremapFixed, 0x4000_0000); err != nil {
		t.Errorf("move at the cap: %v", err)
	}
	checkMMInvariants(t, m)
}

// TestMremapSeveralMappings: a FIXED move without resizing takes every
// mapping in the range along, keeping the gaps (Linux 6.17).
func TestMremapSeveralMappings(t *testing.T) {
	m := newTestMM(t, 0)
	const a, b = 0x1000_0000, 0x2000_0000
	fixedAnon(t, m, a, 6, rw)
	m.CopyOut(a, pattern(6*pageSize, 3))
	m.Mprotect(a+2*pageSize, pageSize, unix.PROT_READ)
	m.Munmap(a+3*pageSize, pageSize)
	fixedAnon(t, m, b+3*pageSize, 1, unix.PROT_EXEC) // under the gap: stays
	if got, err := m.Mremap(a, 6*pageSize, 6*pageSize, mremapMaymove|mremapFixed, b); err != nil || got != b {
		t.Fatalf("move = %#x, %v", got, err)
	}
	wantVMAs(t, m, vma{start: b, end: b + 2*pageSize, prot: rw},
		vma{start: b + 2*pageSize, end: b + 3*pageSize, prot: unix.PROT_READ},
		vma{start: b + 3*pageSize, end: b + 4*pageSize, prot: unix.PROT_EXEC},
		vma{start: b + 4*pageSize, end: b + 6*pageSize, prot: rw})
	want := pattern(6*pageSize, 3)
	got := make([]byte, pageSize)
	for _, p := range []uint64{0, 1, 2, 4, 5} {
		if m.CopyIn(b+p*pageSize, got); !bytes.Equal(got, want[p*pageSize:(p+1)*pageSize]) {
			t.Errorf("page %d differs after the move", p)
		}
	}
	checkMMInvariants(t, m)
}

// TestMremapFileMapping: a moved file mapping keeps its name and file
// offset; growing one in place continues the offset.
func TestMremapFileMapping(t *testing.T) {
	m := newTestMM(t, 0)
	content := string(pattern(4*pageSize, 4))
	a, err := m.Mmap(mmapRequest{length: 3 * pageSize, prot: unix.PROT_READ, flags: unix.MAP_PRIVATE, src: strFile(content), off: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	to, err := m.Mremap(a+pageSize, 2*pageSize, 2*pageSize, mremapMaymove|mremapFixed, 0x1000_0000)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2*pageSize)
	if m.CopyIn(to, got); string(got) != content[2*pageSize:] {
		t.Error("moved file pages differ")
	}
	if i, _ := m.vmas.find(to); i < 0 || m.vmas.v[i].name != "/test/file" || m.vmas.v[i].off != 2*pageSize {
		t.Errorf("moved VMA %+v, want /test/file at offset %d", m.vmas.v, 2*pageSize)
	}
	// Growing would need the file again: refused, nothing changes.
	if _, err := m.Mremap(to, 2*pageSize, 3*pageSize, 0, 0); err != errMremapUnsupported {
		t.Fatalf("grow a file mapping in place: %v, want errMremapUnsupported", err)
	}
	if _, err := m.Mremap(to, 2*pageSize, 3*pageSize, mremapMaymove, 0); err != errMremapUnsupported {
		t.Fatalf("grow a file mapping by moving: %v, want errMremapUnsupported", err)
	}
	wantVMAs(t, m, vma{start: to, end: to + 2*pageSize, prot: unix.PROT_READ, name: "/test/file", off: 2 * pageSize},
		vma{start: a, end: a + pageSize, prot: unix.PROT_READ, name: "/test/file", off: pageSize})
	checkMMInvariants(t, m)
}

func TestMremapErrors(t *testing.T) {
	m := newTestMM(t, 0)
	const a = 0x1000_0000
	fixedAnon(t, m, a, 2, rw)
	fixedAnon(t, m, a+2*pageSize, 1, unix.PROT_READ)
	sh, err := m.Mmap(mmapRequest{length: pageSize, prot: rw, flags: unix.MAP_SHARED | unix.MAP_ANONYMOUS})
	if err != nil {
		t.Fatal(err)
	}
	file, err := m.Mmap(mmapRequest{length: pageSize, prot: unix.PROT_READ, flags: unix.MAP_PRIVATE, src: strFile("x")})
	if err != nil {
		t.Fatal(err)
	}
	const mv, fx, du = mremapMaymove, mremapFixed, mremapDontunmap
	for _, tc := range []struct {
		name                      string
		addr, old, new, flags, to uint64
		want                      error
	}{
		{"unknown flag", a, pageSize, pageSize, 8, 0, unix.EINVAL},
		{"flag in the upper half", a, pageSize, pageSize, 1 << 40, 0, unix.EINVAL},
		{"FIXED without MAYMOVE", a, pageSize, pageSize, fx, 0x2000_0000, unix.EINVAL},
		{"DONTUNMAP without MAYMOVE", a, pageSize, pageSize, du, 0, unix.EINVAL},
		{"DONTUNMAP resizing", a, pageSize, 2 * pageSize, mv | du, 0, unix.EINVAL},
		{"unaligned", a + 1, pageSize, pageSize, 0, 0, unix.EINVAL},
		{"new size 0", a, pageSize, 0, mv, 0, unix.EINVAL},
		{"new size overflows", a, pageSize, 1<<64 - 1, mv, 0, unix.EINVAL},
		{"new size past TASK_SIZE", a, pageSize, 1 << 47, mv, 0, unix.EINVAL},
		{"old range past TASK_SIZE", a, 1 << 47, pageSize, 0, 0, unix.EINVAL},
		{"nothing at addr", a + 3*pageSize, pageSize, 2 * pageSize, mv, 0, unix.EFAULT},
		{"VMM area", userTop, pageSize, 2 * pageSize, mv, 0, unix.EFAULT},
		{"across two VMAs", a, 3 * pageSize, 4 * pageSize, mv, 0, unix.EFAULT},
		{"grow blocked", a, 2 * pageSize, 3 * pageSize, 0, 0, unix.ENOMEM},
		{"grow of a middle range", a, pageSize, 2 * pageSize, 0, 0, unix.ENOMEM},
		{"duplicate of a private mapping", a, 0, pageSize, mv, 0, unix.EINVAL},
		{"duplicate of a shared mapping", sh, 0, pageSize, mv, 0, errMremapUnsupported},
		{"duplicate of a shared mapping in place", sh, 0, pageSize, 0, 0, unix.ENOMEM},
		{"DONTUNMAP of a shared mapping", sh, pageSize, pageSize, mv | du, 0, errMremapUnsupported},
		{"DONTUNMAP of a file mapping", file, pageSize, pageSize, mv | du, 0, errMremapUnsupported},
		{"FIXED overlapping", a, 2 * pageSize, 2 * pageSize, mv | fx, a + pageSize, unix.EINVAL},
		{"FIXED unaligned", a, pageSize, pageSize, mv | fx, 0x2000_0001, unix.EINVAL},
		{"FIXED past TASK_SIZE", a, pageSize, pageSize, mv | fx, linuxTaskSize, unix.EINVAL},
		{"FIXED in the VMM area", a, pageSize, pageSize, mv | fx, userTop, unix.ENOMEM},
		{"FIXED below mmap_min_addr", a, pageSize, pageSize, mv | fx, 0x1000, unix.EPERM},
		{"DONTUNMAP unaligned hint", a, pageSize, pageSize, mv | du, 1, unix.EINVAL},
		{"huge move", a, pageSize, 1 << 46, mv, 0, unix.ENOMEM},
	} {
		before := append([]vma(nil), m.vmas.v...)
		_, err := m.Mremap(tc.addr, tc.old, tc.new, tc.flags, tc.to)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if errors.Is(err, errMremapOverCap) {
			t.Errorf("%s: reported as over the cap, with no cap", tc.name)
		}
		if len(before) != len(m.vmas.v) {
			t.Errorf("%s: the failed call changed the VMAs: %+v", tc.name, m.vmas.v)
		}
		checkMMInvariants(t, m)
	}
	var e unix.Errno
	if !errors.As(errMremapUnsupported, &e) || e != unix.EINVAL {
		t.Errorf("errMremapUnsupported is errno %v, want EINVAL", e)
	}
	if !errors.As(errMremapOverCap, &e) || e != unix.ENOMEM {
		t.Errorf("errMremapOverCap is errno %v, want ENOMEM", e)
	}
}

// TestMremapFailsCleanly: a move that runs out of guest-physical memory
// fails with ENOMEM and leaves the old mapping as it was.
func TestMremapFailsCleanly(t *testing.T) {
	m := newTestMM(t, 0)
	const a = 0x1000_0000
	fixedAnon(t, m, a, 4, rw)
	data := pattern(4*pageSize, 5)
	m.CopyOut(a, data)
	fixedAnon(t, m, a+4*pageSize, 1, unix.PROT_READ)
	free := func() uint64 { st := m.Stats(); return (st.PhysCapacity - st.PhysUsed) / pageSize }
	next := uint64(0x1_0000_0000)
	for f := free(); f > 400; f = free() {
		n := f - f/400 - 16
		fixedAnon(t, m, next, n, rw)
		next += n * pageSize
	}
	if _, err := m.Mremap(a, 4*pageSize, (free()+8)*pageSize, mremapMaymove, 0); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("move with too little memory: %v, want ENOMEM", err)
	}
	got := make([]byte, len(data))
	if err := m.CopyIn(a, got); err != nil || !bytes.Equal(got, data) {
		t.Errorf("old mapping after the failed move: %v, equal %v", err, bytes.Equal(got, data))
	}
	checkMMInvariants(t, m)
}
