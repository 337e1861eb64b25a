package hypervisor

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"os"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// fakeGuest is guest memory for the walker and the build-ID reader: one
// readable range; every read outside it is EFAULT. It records the
// addresses read.
type fakeGuest struct {
	base  uint64
	mem   []byte
	reads []uint64
}

func (g *fakeGuest) CopyIn(addr uint64, dst []byte) error {
	g.reads = append(g.reads, addr)
	if addr < g.base || addr-g.base > uint64(len(g.mem)) || uint64(len(dst)) > uint64(len(g.mem))-(addr-g.base) {
		return unix.EFAULT
	}
	copy(dst, g.mem[addr-g.base:])
	return nil
}

// frame writes a frame record (saved frame pointer, return address) at
// addr.
func (g *fakeGuest) frame(addr, next, ret uint64) {
	binary.LittleEndian.PutUint64(g.mem[addr-g.base:], next)
	binary.LittleEndian.PutUint64(g.mem[addr-g.base+8:], ret)
}

func TestWalkFrames(t *testing.T) {
	const base = 0x7fff0000_0000
	newStack := func() *fakeGuest { return &fakeGuest{base: base, mem: make([]byte, 4096)} }
	for _, tc := range []struct {
		name     string
		build    func(g *fakeGuest)
		bp, sp   uint64
		max      int
		want     []uint64
		wantStop StackEnd
	}{
		{"chain to a zero frame pointer", func(g *fakeGuest) {
			g.frame(base+0x100, base+0x200, 0x401010)
			g.frame(base+0x200, base+0x300, 0x401020)
			g.frame(base+0x300, 0, 0x401030)
		}, base + 0x100, base + 0xf0, 10, []uint64{0x401010, 0x401020, 0x401030}, StackTop},
		{"zero return address", func(g *fakeGuest) {
			g.frame(base+0x100, base+0x200, 0x401010)
			g.frame(base+0x200, base+0x300, 0)
		}, base + 0x100, 0, 10, []uint64{0x401010}, StackTop},
		{"no frame pointer", func(*fakeGuest) {}, 0, 0, 10, nil, StackTop},
		{"frame pointer below the stack pointer", func(g *fakeGuest) {
			g.frame(base+0x100, 0, 0x401010)
		}, base + 0x100, base + 0x108, 10, nil, StackNotAbove},
		{"a frame pointing to itself", func(g *fakeGuest) {
			g.frame(base+0x100, base+0x100, 0x401010)
		}, base + 0x100, 0, 10, []uint64{0x401010}, StackNotAbove},
		{"a frame pointing down", func(g *fakeGuest) {
			g.frame(base+0x200, base+0x100, 0x401010)
			g.frame(base+0x100, base+0x200, 0x401020)
		}, base + 0x200, 0, 10, []uint64{0x401010}, StackNotAbove},
		{"misaligned", func(g *fakeGuest) {
			g.frame(base+0x100, base+0x203, 0x401010)
		}, base + 0x100, 0, 10, []uint64{0x401010}, StackMisaligned},
		{"unreadable", func(g *fakeGuest) {
			g.frame(base+0x100, base+0x10000, 0x401010)
		}, base + 0x100, 0, 10, []uint64{0x401010}, StackUnreadable},
		{"return address in the VMM area", func(g *fakeGuest) {
			g.frame(base+0x100, base+0x200, vmmBase+0x5000)
		}, base + 0x100, 0, 10, nil, StackBadReturn},
		{"return address below userMin", func(g *fakeGuest) {
			g.frame(base+0x100, base+0x200, 0x1000)
		}, base + 0x100, 0, 10, nil, StackBadReturn},
		{"maximum depth", func(g *fakeGuest) {
			for a := uint64(0x100); a < 0x800; a += 0x10 {
				g.frame(base+a, base+a+0x10, 0x400000+a)
			}
		}, base + 0x100, 0, 4, []uint64{0x400100, 0x400110, 0x400120, 0x400130}, StackMaxDepth},
		{"frame pointer at the top of user space", func(*fakeGuest) {}, userTop - 8, 0, 10, nil, StackNotAbove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newStack()
			tc.build(g)
			got, stop := walkFrames(g, tc.bp, tc.sp, tc.max, nil)
			if stop != tc.wantStop || len(got) != len(tc.want) {
				t.Fatalf("walk: %#x, %v; want %#x, %v", got, stop, tc.want, tc.wantStop)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("walk: %#x; want %#x", got, tc.want)
				}
			}
		})
	}
}

// FuzzWalkFrames walks random guest memory from random registers: the
// walk must end, read only increasing aligned frame addresses, at most max
// of them, and return only user-space return addresses.
func FuzzWalkFrames(f *testing.F) {
	chain := make([]byte, 64)
	binary.LittleEndian.PutUint64(chain[0:], 0x7fff_0000_0010)
	binary.LittleEndian.PutUint64(chain[8:], 0x401000)
	binary.LittleEndian.PutUint64(chain[16:], 0x7fff_0000_0000)
	binary.LittleEndian.PutUint64(chain[24:], 0x401100)
	f.Add(chain, uint64(0x7fff_0000_0000), uint64(0), uint8(16))
	f.Add([]byte{}, uint64(0), uint64(0), uint8(1))
	f.Add(make([]byte, 4096), uint64(0x7fff_0000_0ff8), uint64(0x7fff_0000_0000), uint8(200))
	f.Fuzz(func(t *testing.T, mem []byte, bp, sp uint64, max uint8) {
		g := &fakeGuest{base: 0x7fff_0000_0000, mem: mem}
		got, stop := walkFrames(g, bp, sp, int(max), nil)
		if len(got) > int(max) || stop >= stackEndCount {
			t.Fatalf("%d frames of at most %d, stop %v", len(got), max, stop)
		}
		if len(g.reads) > int(max) {
			t.Fatalf("%d reads for at most %d frames", len(g.reads), max)
		}
		for i, a := range g.reads {
			if a&7 != 0 || a < sp || (i > 0 && a <= g.reads[i-1]) {
				t.Fatalf("read %d at %#x (sp %#x, reads %#x)", i, a, sp, g.reads)
			}
		}
		for _, r := range got {
			if r < userMin || r >= userTop {
				t.Fatalf("return address %#x outside user space", r)
			}
		}
	})
}

// TestReadBuildID reads the build ID of real binaries mapped, as a whole,
// into fake guest memory: a C program's GNU build ID, and the Go linker's
// note of a Go binary (this test), whose GNU note, if any, is not loaded.
func TestReadBuildID(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/bin/true", exe} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("skipping: %v", err)
		}
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		// What the loaded notes say (PT_NOTE segments, read by
		// debug/elf): the GNU ID if one is loaded, else the Go ID.
		var gnu, goID string
		for _, p := range f.Progs {
			if p.Type == elf.PT_NOTE {
				d := make([]byte, p.Filesz)
				if _, err := p.ReadAt(d, 0); err != nil {
					t.Fatal(err)
				}
				g, o := parseBuildIDNotes(d)
				gnu, goID = max(gnu, g), max(goID, o)
			}
		}
		f.Close()
		want := gnu
		if want == "" {
			want = goID
		}
		if want == "" {
			t.Fatalf("%s has no loaded build ID note", path)
		}
		const base = 0x400000
		g := &fakeGuest{base: base, mem: b}
		maps := []GuestMapping{{Start: base, Limit: base + uint64(len(b)), File: path}}
		if got := readBuildID(g, maps, path, base); got != want {
			t.Errorf("%s: build ID %q, want %q", path, got, want)
		}
	}
}

// FuzzReadBuildID reads build IDs out of random guest memory through
// random mappings of the file: the reader never panics, and returns a GNU
// ID in hex or a Go ID from a note.
func FuzzReadBuildID(f *testing.F) {
	if b, err := os.ReadFile("/bin/true"); err == nil && len(b) > 8192 {
		f.Add(b[:8192], uint64(0), uint64(4096))
	}
	note := []byte("\x7fELF\x02\x01\x01")
	f.Add(append(note, make([]byte, 200)...), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, mem []byte, off2, split uint64) {
		const base = 0x400000
		g := &fakeGuest{base: base, mem: mem}
		split = min(split, uint64(len(mem)))
		maps := []GuestMapping{
			{Start: base, Limit: base + split, File: "/f"},
			{Start: base + split, Limit: base + uint64(len(mem)), Offset: off2, File: "/f"},
		}
		id := readBuildID(g, maps, "/f", base)
		if id != "" && len(id) > maxNoteBytes*2 {
			t.Fatalf("build ID of %d bytes", len(id))
		}
		if _, err := hex.DecodeString(id); err != nil && len(mem) > 0 && id != "" {
			// A Go ID is any string; nothing more to check.
			_ = err
		}
	})
}
