package profiler

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestAddressSpaceMap(t *testing.T) {
	lib := Mapping{Start: 0x1000, Limit: 0x5000, Offset: 0x10000, File: "/lib/a.so"}
	tests := []struct {
		name string
		add  []Mapping
		want []Mapping
	}{
		{"disjoint sorted", []Mapping{
			{Start: 0x6000, Limit: 0x7000, File: "b"}, lib,
		}, []Mapping{lib, {Start: 0x6000, Limit: 0x7000, File: "b"}}},
		{"replace middle", []Mapping{lib, {Start: 0x2000, Limit: 0x3000, File: "x"}}, []Mapping{
			{Start: 0x1000, Limit: 0x2000, Offset: 0x10000, File: "/lib/a.so"},
			{Start: 0x2000, Limit: 0x3000, File: "x"},
			{Start: 0x3000, Limit: 0x5000, Offset: 0x12000, File: "/lib/a.so"},
		}},
		{"replace head and tail", []Mapping{
			{Start: 0x0, Limit: 0x2000, File: "l"}, {Start: 0x4000, Limit: 0x8000, File: "r"}, lib,
		}, []Mapping{
			{Start: 0x0, Limit: 0x1000, File: "l"}, lib, {Start: 0x5000, Limit: 0x8000, Offset: 0x1000, File: "r"},
		}},
		{"replace whole", []Mapping{lib, {Start: 0x0, Limit: 0x9000, File: "big"}}, []Mapping{
			{Start: 0x0, Limit: 0x9000, File: "big"},
		}},
		{"same again", []Mapping{lib, lib}, []Mapping{lib}},
	}
	for _, tt := range tests {
		var a AddressSpace
		for _, m := range tt.add {
			if err := a.Map(m); err != nil {
				t.Fatalf("%s: Map(%v): %v", tt.name, m, err)
			}
		}
		if got := a.Mappings(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
	var a AddressSpace
	if err := a.Map(Mapping{Start: 5, Limit: 5}); err == nil {
		t.Errorf("Map of an empty range succeeded")
	}
}

func TestAddressSpaceFind(t *testing.T) {
	var a AddressSpace
	for _, m := range []Mapping{{Start: 0x1000, Limit: 0x2000, File: "a"}, {Start: 0x2000, Limit: 0x3000, File: "b"}, {Start: 0x8000, Limit: 0x9000, File: "c"}} {
		if err := a.Map(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		addr uint64
		want string
	}{{0xfff, ""}, {0x1000, "a"}, {0x1fff, "a"}, {0x2000, "b"}, {0x3000, ""}, {0x8fff, "c"}, {0x9000, ""}} {
		m, ok := a.Find(tt.addr)
		if ok != (tt.want != "") || m.File != tt.want {
			t.Errorf("Find(%#x) = %v, %v; want %q", tt.addr, m, ok, tt.want)
		}
	}
	c := a.Clone()
	a.Unmap(0, 1<<40)
	if a.Len() != 0 || c.Len() != 3 {
		t.Errorf("Clone shares state: %d and %d mappings", a.Len(), c.Len())
	}
}

func TestParseMaps(t *testing.T) {
	const good = `55d0c9a00000-55d0c9a01000 r--p 00000000 08:01 1234                       /usr/bin/my prog
55d0c9a01000-55d0c9a02000 r-xp 00001000 08:01 1234                       /usr/bin/my prog
7f0000000000-7f0000021000 rw-p 00000000 00:00 0 
7f1000000000-7f1000001000 r-xp 00000000 00:05 99                         /tmp/x.so (deleted)
7ffd1000-7ffd3000 r-xp 00000000 00:00 0                                  [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`
	got, err := ParseMaps(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{Start: 0x55d0c9a00000, Limit: 0x55d0c9a01000, File: "/usr/bin/my prog"},
		{Start: 0x55d0c9a01000, Limit: 0x55d0c9a02000, Offset: 0x1000, File: "/usr/bin/my prog"},
		{Start: 0x7f0000000000, Limit: 0x7f0000021000},
		{Start: 0x7f1000000000, Limit: 0x7f1000001000, File: "/tmp/x.so (deleted)"},
		{Start: 0x7ffd1000, Limit: 0x7ffd3000, File: "[vdso]"},
		{Start: 0xffffffffff600000, Limit: 0xffffffffff601000, File: "[vsyscall]"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMaps:\n got %v\nwant %v", got, want)
	}
	symbolizable := []bool{true, true, false, false, false, false}
	for i, m := range got {
		if m.Symbolizable() != symbolizable[i] {
			t.Errorf("%q: Symbolizable = %v", m.File, m.Symbolizable())
		}
	}

	for _, tt := range []struct{ in, want string }{
		{"1000-2000 r-xp 0 08:01", "line 1: want 5 fields"},
		{"1000 r-xp 0 08:01 1 /a", "no '-'"},
		{"zz-2000 r-xp 0 08:01 1 /a", `address range "zz-2000"`},
		{"2000-1000 r-xp 0 08:01 1 /a", "empty or inverted"},
		{"1000-2000 rx 0 08:01 1 /a", "permissions"},
		{"1000-2000 r-xp 0g 08:01 1 /a", "offset"},
		{"1000-2000 r-xp 0 0801 1 /a", "device"},
		{"\n1000-2000 r-xp 0 08:01 x /a", "line 2: inode"},
	} {
		_, err := ParseMaps(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseMaps(%q): err = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestReadProcMaps reads this test's own maps: the executable's text
// mapping holds the address of a function of the test binary.
func TestReadProcMaps(t *testing.T) {
	maps, err := ReadProcMaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pc := reflect.ValueOf(TestReadProcMaps).Pointer()
	var a AddressSpace
	for _, m := range maps {
		if err := a.Map(m); err != nil {
			t.Fatal(err)
		}
	}
	m, ok := a.Find(uint64(pc))
	if !ok || m.File != exe || !m.Symbolizable() {
		t.Errorf("mapping of %#x = %v, %v; want one of %s", pc, m, ok, exe)
	}
	if _, err := ReadProcMaps(-5); err == nil {
		t.Errorf("ReadProcMaps(-5) succeeded")
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add("00400000-00452000 r-xp 00001000 08:02 173521      /usr/bin/dbus-daemon\n")
	f.Add("7ffd1000-7ffd3000 r-xp 00000000 00:00 0  [vdso]\n\n")
	f.Add("0-1 ---- 0 0:0 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		maps, err := ParseMaps(strings.NewReader(s))
		if err != nil {
			return
		}
		var a AddressSpace
		for _, m := range maps {
			if m.Limit <= m.Start {
				t.Fatalf("ParseMaps accepted an empty range %v", m)
			}
			if err := a.Map(m); err != nil {
				t.Fatal(err)
			}
			if got, ok := a.Find(m.Start); !ok || got != m {
				t.Fatalf("Find(%#x) after Map(%v) = %v, %v", m.Start, m, got, ok)
			}
		}
		prev := uint64(0)
		for i, m := range a.Mappings() {
			if i > 0 && m.Start < prev {
				t.Fatalf("mappings overlap or are unsorted: %v", a.Mappings())
			}
			prev = m.Limit
		}
	})
}
