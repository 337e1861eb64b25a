package symbolize

import (
	"bytes"
	"testing"
)

// FuzzBinary feeds arbitrary bytes to the ELF reader and looks up
// addresses in whatever it accepted. Nothing may panic; errors are fine.
// Seeds (testdata/fuzz/FuzzBinary) are small real binaries with DWARF,
// built from testdata/tiny.c.
func FuzzBinary(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := readBinary("fuzz.elf", bytes.NewReader(data), int64(len(data)), "", []string{})
		if err != nil {
			return
		}
		_ = b.Info()
		_ = b.Problems()
		probe := []uint64{0, 1, ^uint64(0)}
		for _, s := range b.segs {
			probe = append(probe, s.vaddr, s.vaddr+s.filesz/2, s.vaddr+s.filesz-1)
			if _, err := b.Translate(0x7f0000000000, s.off, 0x7f0000000000+s.filesz/2); err != nil {
				t.Errorf("Translate inside segment %+v: %v", s, err)
			}
		}
		for _, s := range b.syms.syms {
			probe = append(probe, s.addr, s.end-1)
		}
		if b.dwarf != nil {
			for _, s := range b.dwarf.spans.s {
				probe = append(probe, s.lo, (s.lo+s.hi)/2)
			}
		}
		for i, a := range probe {
			if i > 256 {
				break
			}
			_, _ = b.Frames(a)
		}
	})
}

// FuzzParseKallsyms checks the kallsyms parser never panics and that what
// it accepts is sorted.
func FuzzParseKallsyms(f *testing.F) {
	f.Add("ffffffff81000000 T _stext\nffffffff81000100 t helper [mod]\n")
	f.Add("0000000000000000 T _stext\n")
	f.Add("zz T x\n")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKallsyms(bytes.NewReader([]byte(s)))
		if err != nil {
			return
		}
		for i := 1; i < len(k.addrs); i++ {
			if k.addrs[i-1] >= k.addrs[i] {
				t.Fatalf("addresses not strictly increasing at %d", i)
			}
		}
		for _, a := range k.addrs {
			if _, ok := k.Lookup(a); !ok {
				t.Fatalf("Lookup(%#x) of a listed symbol failed", a)
			}
		}
	})
}
