package hypervisor

import (
	"bytes"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

func newTestMM(t testing.TB, limit uint64) *MM {
	t.Helper()
	m, err := newMM(1<<30, limit, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.close() })
	return m
}

func anon(length uint64, prot int) mmapRequest {
	return mmapRequest{length: length, prot: prot, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}
}

const rw = unix.PROT_READ | unix.PROT_WRITE

func TestMmapCopyMunmap(t *testing.T) {
	m := newTestMM(t, 0)
	a, err := m.Mmap(anon(3*pageSize, rw))
	if err != nil {
		t.Fatal(err)
	}
	if a != defaultMmapBase-3*pageSize {
		t.Errorf("first mmap at %#x, want top-down below %#x", a, uint64(defaultMmapBase))
	}
	msg := []byte("spans a page boundary")
	at := a + pageSize - 5
	if err := m.CopyOut(at, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if err := m.CopyIn(at, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("CopyIn = %q, %v", got, err)
	}
	if err := m.WriteUint64(a+16, 0xdeadbeef); err != nil {
		t.Fatal(err)
	}
	if v, err := m.ReadUint64(a + 16); err != nil || v != 0xdeadbeef {
		t.Errorf("ReadUint64 = %#x, %v", v, err)
	}
	bound := m.Stats().BoundPages
	if err := m.Munmap(a, 3*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyIn(at, got); !errors.Is(err, unix.EFAULT) {
		t.Errorf("CopyIn after munmap: %v, want EFAULT", err)
	}
	// The freed range is reused first, so no new binding is made, and
	// it reads as zero.
	b, err := m.Mmap(anon(3*pageSize, rw))
	if err != nil || b != a {
		t.Fatalf("re-mmap at %#x (%v), want %#x", b, err, a)
	}
	if st := m.Stats(); st.BoundPages != bound {
		t.Errorf("bound pages %d after reuse, want %d", st.BoundPages, bound)
	}
	if err := m.CopyIn(at, got); err != nil || !bytes.Equal(got, make([]byte, len(msg))) {
		t.Errorf("reused memory = %q, %v; want zeros", got, err)
	}
}

func TestCopyFaults(t *testing.T) {
	m := newTestMM(t, 0)
	a, _ := m.Mmap(anon(2*pageSize, rw))
	ro, _ := m.Mmap(anon(pageSize, unix.PROT_READ))
	buf := make([]byte, 8)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"null", m.CopyIn(0, buf)},
		{"past the end of a mapping", m.CopyIn(a+2*pageSize-4, buf)},
		{"VMM area", m.CopyIn(gdtGVA, buf)},
		{"overflowing range", m.CopyIn(^uint64(0)-2, buf)},
		{"write to read-only", m.CopyOut(ro, buf)},
	} {
		if !errors.Is(tc.err, unix.EFAULT) {
			t.Errorf("%s: err = %v, want EFAULT", tc.name, tc.err)
		}
	}
	if err := m.CopyIn(ro, buf); err != nil {
		t.Errorf("read of read-only memory: %v", err)
	}
	if err := m.Mprotect(a, pageSize, unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyIn(a, buf); !errors.Is(err, unix.EFAULT) {
		t.Errorf("read of PROT_NONE memory: %v, want EFAULT", err)
	}
	if err := m.CopyIn(a+pageSize, buf); err != nil {
		t.Errorf("read of the still-accessible page: %v", err)
	}
}

func TestReadString(t *testing.T) {
	m := newTestMM(t, 0)
	a, _ := m.Mmap(anon(2*pageSize, rw))
	// A string ending right before the end of the mapping.
	s := "/proc/self/exe"
	at := a + 2*pageSize - uint64(len(s)) - 1
	m.CopyOut(at, append([]byte(s), 0))
	if got, err := m.ReadString(at, 4096); err != nil || got != s {
		t.Errorf("ReadString = %q, %v", got, err)
	}
	if _, err := m.ReadString(at, 3); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Errorf("too long: %v, want ENAMETOOLONG", err)
	}
	// No NUL before the end of the mapping.
	m.CopyOut(a+2*pageSize-4, []byte("abcd"))
	if _, err := m.ReadString(a+2*pageSize-4, 4096); !errors.Is(err, unix.EFAULT) {
		t.Errorf("unterminated: %v, want EFAULT", err)
	}
}

func TestCommitLimit(t *testing.T) {
	m := newTestMM(t, 16*pageSize)
	// PROT_NONE reservations do not count.
	res, err := m.Mmap(anon(1<<30, unix.PROT_NONE))
	if err != nil {
		t.Fatalf("large PROT_NONE reservation: %v", err)
	}
	if m.Stats().BoundPages != 0 {
		t.Errorf("PROT_NONE reservation bound %d pages", m.Stats().BoundPages)
	}
	if _, err := m.Mmap(anon(17*pageSize, rw)); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("mmap over the cap: %v, want ENOMEM", err)
	}
	if err := m.Mprotect(res, 10*pageSize, rw); err != nil {
		t.Fatalf("mprotect within the cap: %v", err)
	}
	if err := m.Mprotect(res+10*pageSize, 7*pageSize, rw); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("mprotect over the cap: %v, want ENOMEM", err)
	}
	// MAP_FIXED over accessible memory reuses its share of the cap.
	if _, err := m.Mmap(mmapRequest{addr: res, length: 16 * pageSize, prot: rw, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}); err != nil {
		t.Errorf("MAP_FIXED replacing 10 committed pages by 16: %v", err)
	}
	if st := m.Stats(); st.Committed != 16*pageSize {
		t.Errorf("committed = %d, want %d", st.Committed, 16*pageSize)
	}
	if err := m.Munmap(res, 1<<30); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Committed != 0 || st.VMAs != 0 {
		t.Errorf("after munmap: %+v", st)
	}
}

func TestMmapErrors(t *testing.T) {
	m := newTestMM(t, 0)
	fixed := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED
	a, _ := m.Mmap(anon(pageSize, rw))
	for _, tc := range []struct {
		name string
		req  mmapRequest
		want error
	}{
		{"zero length", anon(0, rw), unix.EINVAL},
		{"no type", mmapRequest{length: pageSize, flags: unix.MAP_ANONYMOUS}, unix.EINVAL},
		{"bad prot", anon(pageSize, 0x40), unix.EINVAL},
		{"unaligned offset", mmapRequest{length: pageSize, flags: unix.MAP_PRIVATE, off: 5, src: strFile("x")}, unix.EINVAL},
		{"file without fd", mmapRequest{length: pageSize, flags: unix.MAP_PRIVATE}, unix.EBADF},
		{"unaligned fixed", mmapRequest{addr: 0x10001, length: pageSize, flags: fixed}, unix.EINVAL},
		{"fixed below mmap_min_addr", mmapRequest{addr: 0x1000, length: pageSize, flags: fixed}, unix.EPERM},
		{"fixed in the VMM area", mmapRequest{addr: userTop, length: pageSize, flags: fixed}, unix.ENOMEM},
		{"huge", anon(1<<62, rw), unix.ENOMEM},
		{"fixed noreplace", mmapRequest{addr: a, length: pageSize, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | mapFixedNoReplace}, unix.EEXIST},
		{"shared writable file", mmapRequest{length: pageSize, prot: rw, flags: unix.MAP_SHARED, src: strFile("x")}, unix.ENODEV},
	} {
		if _, err := m.Mmap(tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := m.Munmap(a+1, pageSize); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned munmap: %v", err)
	}
	if err := m.Mprotect(a+pageSize, pageSize, unix.PROT_READ); !errors.Is(err, unix.ENOMEM) {
		t.Errorf("mprotect of unmapped memory: %v", err)
	}
}

// strFile is a fileSource over a string.
type strFile string

func (s strFile) Name() string { return "/test/file" }
func (s strFile) ReadAt(p []byte, off int64) (int, error) {
	return strings.NewReader(string(s)).ReadAt(p, off)
}

func TestFileMapping(t *testing.T) {
	m := newTestMM(t, 0)
	content := strings.Repeat("a", pageSize) + "second page"
	a, err := m.Mmap(mmapRequest{length: 3 * pageSize, prot: unix.PROT_READ, flags: unix.MAP_PRIVATE, src: strFile(content), off: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	m.CopyIn(a, got)
	if string(got) != "second page\x00\x00\x00\x00\x00" {
		t.Errorf("mapped file at offset 4096 = %q", got)
	}
	if m.vmas.v[0].name != "/test/file" {
		t.Errorf("vma name = %q", m.vmas.v[0].name)
	}
}

func TestBrk(t *testing.T) {
	m := newTestMM(t, 0)
	m.setBrk(0x4c5000 + 0x123)
	start := m.Brk(0)
	if start != 0x4c5123 {
		t.Fatalf("brk(0) = %#x", start)
	}
	if got := m.Brk(start + 0x21000); got != start+0x21000 {
		t.Fatalf("grow: brk = %#x", got)
	}
	if err := m.WriteUint64(start+0x20000, 7); err != nil {
		t.Errorf("write to grown heap: %v", err)
	}
	if got := m.Brk(start + 0x100); got != start+0x100 {
		t.Fatalf("shrink: brk = %#x", got)
	}
	if err := m.WriteUint64(start+0x20000, 7); !errors.Is(err, unix.EFAULT) {
		t.Errorf("write past the shrunk heap: %v, want EFAULT", err)
	}
	if got := m.Brk(0x1000); got != start+0x100 {
		t.Errorf("brk below the start = %#x, want unchanged", got)
	}
	// A mapping in the way stops the heap.
	m.Mmap(mmapRequest{addr: 0x4d0000, length: pageSize, prot: rw, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED})
	if got := m.Brk(0x4e0000); got != start+0x100 {
		t.Errorf("brk over a mapping = %#x, want unchanged", got)
	}
}

// checkMMInvariants verifies, after any sequence of operations, that
// every accessible page is bound, the page tables agree with the bindings,
// committed is the sum of accessible VMAs, and VMAs are sorted and
// disjoint.
func checkMMInvariants(t *testing.T, m *MM) {
	t.Helper()
	var committed uint64
	var prevEnd uint64
	for _, v := range m.vmas.v {
		if v.start < prevEnd || v.start >= v.end {
			t.Fatalf("VMAs overlap or are empty: %+v", m.vmas.v)
		}
		prevEnd = v.end
		if !v.accessible() {
			continue
		}
		committed += v.size()
		for p := v.start; p < v.end; p += pageSize {
			gpa, _, ok := m.binds.lookup(p)
			if !ok {
				t.Fatalf("accessible page %#x is not bound", p)
			}
			pte, ok := m.pt.translate(p)
			if !ok || pte != gpa|protPTE(v.prot) {
				t.Fatalf("page %#x (prot %d): PTE %#x, want %#x", p, v.prot, pte, gpa|protPTE(v.prot))
			}
		}
	}
	if committed != m.committed {
		t.Fatalf("committed = %d, VMAs say %d", m.committed, committed)
	}
	// Guest code reaches no page that is unmapped or PROT_NONE.
	for _, e := range m.binds.ext {
		for p := e.gva; p < e.end() && p < userTop; p += pageSize {
			i, _ := m.vmas.find(p)
			if pte, ok := m.pt.translate(p); ok && (i < 0 || !m.vmas.v[i].accessible()) {
				t.Fatalf("page %#x is unmapped or PROT_NONE but its PTE is %#x", p, pte)
			}
		}
	}
}

func TestMMRandomOperations(t *testing.T) {
	m := newTestMM(t, 0)
	rng := rand.New(rand.NewSource(1))
	const base = 0x1000_0000
	for i := 0; i < 2000; i++ {
		addr := base + uint64(rng.Intn(64))*pageSize
		length := uint64(1+rng.Intn(16)) * pageSize
		prot := []int{unix.PROT_NONE, unix.PROT_READ, rw, unix.PROT_READ | unix.PROT_EXEC}[rng.Intn(4)]
		switch rng.Intn(5) {
		case 0:
			m.Mmap(mmapRequest{addr: addr, length: length, prot: prot, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED})
		case 1:
			m.Munmap(addr, length)
		case 2:
			m.Mprotect(addr, length, prot)
		case 3:
			m.Madvise(addr, length, madvDontNeed)
		case 4:
			// Moves stay inside the area: FIXED, or in place.
			newLength := uint64(1+rng.Intn(16)) * pageSize
			to := base + uint64(rng.Intn(64))*pageSize
			flags := []uint64{0, mremapMaymove | mremapFixed, mremapMaymove | mremapFixed | mremapDontunmap}[rng.Intn(3)]
			if flags&mremapDontunmap != 0 {
				newLength = length
			}
			m.Mremap(addr, length, newLength, flags, to)
		}
		checkMMInvariants(t, m)
	}
	// Everything happened inside 80 pages: bindings never exceed them
	// (a grow in place ends below base+80 pages too).
	if st := m.Stats(); st.BoundPages > 80 {
		t.Errorf("bound pages = %d, want at most 80 (bindings must be reused)", st.BoundPages)
	}
}
