package symbolize

import "testing"

func TestSymtabLookup(t *testing.T) {
	tab := buildSymtab([]rawSym{
		{addr: 0x1000, size: 0x20, sectEnd: 0x2000, name: "sized", rank: 0},
		{addr: 0x1000, size: 0x20, sectEnd: 0x2000, name: "local_alias", rank: 2},
		{addr: 0x1000, size: 0, sectEnd: 0x2000, name: "zero_alias", rank: 4},
		{addr: 0x1040, size: 0, sectEnd: 0x2000, name: "label", rank: 4},
		{addr: 0x1080, size: 0x10, sectEnd: 0x2000, name: "next", rank: 1},
		{addr: 0x1f00, size: 0, sectEnd: 0x2000, name: "tail", rank: 4},
		{addr: 0x3000, size: 0, sectEnd: 0, name: "abs", rank: 4},
		{addr: 0x5000, size: 0, sectEnd: 0, name: "abs_last", rank: 4},
		{addr: 0x4000, size: 0x10, name: "b_same", rank: 0},
		{addr: 0x4000, size: 0x10, name: "a_same", rank: 0},
		{addr: 0x4100, size: 0x10, name: "__libc_write", rank: 0},
		{addr: 0x4100, size: 0x10, name: "write_longer", rank: 0},
		{addr: 0x4200, size: 0x10, name: "weak_alias", rank: 2},
		{addr: 0x4200, size: 0x10, name: "local_alias", rank: 1},
		{addr: 0x4300, size: 0x10, name: "open", rank: 1},
		{addr: 0x4300, size: 0x10, name: "open64", rank: 1},
	})
	tests := []struct {
		addr uint64
		want string // "" for no symbol
	}{
		{0xfff, ""},
		{0x1000, "sized"}, // the global sized alias wins
		{0x101f, "sized"},
		{0x1020, ""},             // past the end of a sized symbol
		{0x1040, "label"},        // zero size: up to the next symbol
		{0x107f, "label"},        //
		{0x1080, "next"},         //
		{0x1090, ""},             // gap
		{0x1f00, "tail"},         // zero size, last in its section:
		{0x1fff, "tail"},         // up to the section end
		{0x2000, ""},             //
		{0x3000, "abs"},          // zero size, no section: up to the next symbol
		{0x5000, ""},             // zero size, no section, last: nothing
		{0x4000, "b_same"},       // a full tie: the first listed
		{0x4100, "write_longer"}, // fewer leading underscores first
		{0x4200, "local_alias"},  // local over weak
		{0x4300, "open64"},       // then the longer name
	}
	for _, tt := range tests {
		got, ok := tab.lookup(tt.addr)
		if tt.want == "" {
			if ok {
				t.Errorf("lookup(%#x) = %q, want none", tt.addr, got.name)
			}
			continue
		}
		if !ok || got.name != tt.want {
			t.Errorf("lookup(%#x) = %q, %v; want %q", tt.addr, got.name, ok, tt.want)
		}
	}
}

func TestTranslate(t *testing.T) {
	// Segment layouts as gcc/ld produce them: a static binary (vaddr =
	// file offset + 0x400000) and a PIE (vaddr = offset, data segment
	// shifted by a page).
	static := &Binary{segs: []segment{{vaddr: 0x400000, off: 0, filesz: 0x1000}, {vaddr: 0x401000, off: 0x1000, filesz: 0x8000}}}
	pie := &Binary{segs: []segment{{vaddr: 0, off: 0, filesz: 0x600}, {vaddr: 0x1000, off: 0x1000, filesz: 0x300}, {vaddr: 0x3dd0, off: 0x2dd0, filesz: 0x260}}}
	tests := []struct {
		name                string
		b                   *Binary
		start, offset, addr uint64
		want                uint64
		wantErr             bool
	}{
		{"static text", static, 0x401000, 0x1000, 0x401234, 0x401234, false},
		{"pie text", pie, 0x555555555000, 0x1000, 0x555555555169, 0x1169, false},
		{"pie data", pie, 0x555555557000, 0x2000, 0x555555557dd8, 0x3dd8, false},
		{"pie header", pie, 0x555555554000, 0, 0x555555554010, 0x10, false},
		{"below start", pie, 0x555555555000, 0x1000, 0x555555554fff, 0, true},
		{"past segments", pie, 0x555555555000, 0x1000, 0x555555555400, 0, true},
	}
	for _, tt := range tests {
		got, err := tt.b.Translate(tt.start, tt.offset, tt.addr)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: Translate(%#x, %#x, %#x) = %#x, %v; want %#x, error %v", tt.name, tt.start, tt.offset, tt.addr, got, err, tt.want, tt.wantErr)
		}
	}
}
