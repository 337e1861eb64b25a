package hypervisor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
)

// phdr is a program header for makeELF.
type phdr struct {
	typ, flags                uint32
	off, vaddr, filesz, memsz uint64
}

// makeELF builds a minimal x86-64 ELF executable: a header, the given
// program headers right after it, padded to size bytes. edit may change
// the header bytes.
func makeELF(typ uint16, entry uint64, phs []phdr, size int, edit func(h []byte)) []byte {
	b := make([]byte, max(size, elfHeaderSize+len(phs)*elfPhdrSize))
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // 64-bit, little-endian, version 1
	le := binary.LittleEndian
	le.PutUint16(b[16:], typ)
	le.PutUint16(b[18:], emX86_64)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], entry)
	le.PutUint64(b[32:], elfHeaderSize)
	le.PutUint16(b[52:], elfHeaderSize)
	le.PutUint16(b[54:], elfPhdrSize)
	le.PutUint16(b[56:], uint16(len(phs)))
	for i, p := range phs {
		e := b[elfHeaderSize+i*elfPhdrSize:]
		le.PutUint32(e[0:], p.typ)
		le.PutUint32(e[4:], p.flags)
		le.PutUint64(e[8:], p.off)
		le.PutUint64(e[16:], p.vaddr)
		le.PutUint64(e[24:], p.vaddr)
		le.PutUint64(e[32:], p.filesz)
		le.PutUint64(e[40:], p.memsz)
		le.PutUint64(e[48:], pageSize)
	}
	if edit != nil {
		edit(b)
	}
	return b
}

// validELF is a static executable with a text and a data+bss segment.
func validELF() []byte {
	return makeELF(etExec, 0x401000, []phdr{
		{typ: ptLoad, flags: pfR | pfX, off: 0, vaddr: 0x400000, filesz: 0x2000, memsz: 0x2000},
		{typ: ptLoad, flags: pfR | pfW, off: 0x2000, vaddr: 0x602000, filesz: 0x100, memsz: 0x3000},
		{typ: ptGNUStack, flags: pfR | pfW},
	}, 0x2100, nil)
}

func TestParseELF(t *testing.T) {
	p, err := parseELF(bytes.NewReader(validELF()), 0x2100)
	if err != nil {
		t.Fatal(err)
	}
	if p.dyn || p.entry != 0x401000 || len(p.segs) != 2 || p.lo != 0x400000 || p.hi != 0x605000 || p.execStack {
		t.Errorf("plan = %+v", p)
	}
	if p.phdrVaddr != 0x400000+elfHeaderSize || p.phnum != 3 {
		t.Errorf("phdr at %#x (%d entries), want %#x (3)", p.phdrVaddr, p.phnum, 0x400000+elfHeaderSize)
	}
	if p.segs[0].prot != unix.PROT_READ|unix.PROT_EXEC || p.segs[1].prot != unix.PROT_READ|unix.PROT_WRITE {
		t.Errorf("segment protections %d, %d", p.segs[0].prot, p.segs[1].prot)
	}

	interp := makeELF(etDyn, 0x1000, []phdr{
		{typ: ptInterp, off: 0x200, filesz: 28},
		{typ: ptLoad, flags: pfR | pfX, off: 0, vaddr: 0, filesz: 0x1000, memsz: 0x1000},
	}, 0x1000, func(b []byte) { copy(b[0x200:], "/lib64/ld-linux-x86-64.so.2\x00") })
	p, err = parseELF(bytes.NewReader(interp), 0x1000)
	if err != nil {
		t.Fatal(err)
	}
	if !p.dyn || p.interp != "/lib64/ld-linux-x86-64.so.2" {
		t.Errorf("dynamic plan = %+v", p)
	}
}

func TestParseELFErrors(t *testing.T) {
	good := validELF()
	edit := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	le := binary.LittleEndian
	for _, tc := range []struct {
		name string
		file []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotELF, ""},
		{"text", []byte("hello, world\n"), ErrNotELF, ""},
		{"script", []byte("#!/bin/sh\necho hi\n"), ErrScript, "interpreter"},
		{"truncated header", good[:40], ErrTruncated, ""},
		{"32-bit", edit(func(b []byte) { b[4] = 1 }), ErrELFClass, "32-bit"},
		{"big-endian", edit(func(b []byte) { b[5] = 2 }), ErrBadELF, "little-endian"},
		{"aarch64", edit(func(b []byte) { le.PutUint16(b[18:], 183) }), ErrELFMachine, "AArch64"},
		{"relocatable", edit(func(b []byte) { le.PutUint16(b[16:], 1) }), ErrNotExec, "e_type 1"},
		{"core", edit(func(b []byte) { le.PutUint16(b[16:], 4) }), ErrNotExec, ""},
		{"no program headers", edit(func(b []byte) { le.PutUint16(b[56:], 0) }), ErrBadELF, ""},
		{"odd phentsize", edit(func(b []byte) { le.PutUint16(b[54:], 32) }), ErrBadELF, ""},
		{"phdrs past EOF", good[:100], ErrTruncated, ""},
		{"segment past EOF", good[:0x2050], ErrTruncated, "segment 1"},
		{"filesz > memsz", edit(func(b []byte) { le.PutUint64(b[elfHeaderSize+elfPhdrSize+40:], 0x10) }), ErrBadELF, "larger than memory size"},
		{"not congruent", edit(func(b []byte) { le.PutUint64(b[elfHeaderSize+elfPhdrSize+16:], 0x602100) }), ErrBadELF, "congruent"},
		{"below mmap_min_addr", edit(func(b []byte) { le.PutUint64(b[elfHeaderSize+16:], 0x1000) }), ErrBadELF, "outside the address space"},
		{"no PT_LOAD", makeELF(etExec, 0, []phdr{{typ: ptGNUStack}}, 0x100, nil), ErrBadELF, "no PT_LOAD"},
		{"unterminated interp", makeELF(etExec, 0, []phdr{{typ: ptInterp, off: 0x100, filesz: 4}, {typ: ptLoad, vaddr: 0x400000, memsz: 0x1000}}, 0x200,
			func(b []byte) { copy(b[0x100:], "/lib") }), ErrBadELF, "PT_INTERP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseELF(bytes.NewReader(tc.file), int64(len(tc.file)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func FuzzParseELF(f *testing.F) {
	f.Add(validELF())
	f.Add(makeELF(etDyn, 0x1000, []phdr{
		{typ: ptInterp, off: 0x200, filesz: 28},
		{typ: ptLoad, flags: pfR | pfX, vaddr: 0, filesz: 0x1000, memsz: 0x1000},
		{typ: ptPhdr, vaddr: elfHeaderSize},
	}, 0x1000, func(b []byte) { copy(b[0x200:], "/lib64/ld-linux-x86-64.so.2\x00") }))
	f.Add([]byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseELF(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		// A plan that parses must be loadable without surprises.
		if len(p.segs) == 0 || p.lo > p.hi || p.hi-p.lo > userTop {
			t.Fatalf("bad plan accepted: %+v", p)
		}
		for _, s := range p.segs {
			if s.filesz > s.memsz || s.off+s.filesz > uint64(len(b)) || s.vaddr < p.lo || s.vaddr+s.memsz > p.hi {
				t.Fatalf("bad segment accepted: %+v in %+v", s, p)
			}
		}
	})
}

func TestBuildStack(t *testing.T) {
	spec := stackSpec{
		argv:     []string{"/bin/prog", "arg one", ""},
		envp:     []string{"A=1", "PATH=/bin"},
		execfn:   "/bin/prog",
		platform: "x86_64",
		auxv:     []auxEntry{{atPagesz, pageSize}, {atEntry, 0x401000}},
	}
	copy(spec.random[:], "0123456789abcdef")
	const top = 0x7fff_0000_0000
	img, sp, err := buildStack(top, spec)
	if err != nil {
		t.Fatal(err)
	}
	if sp%16 != 0 || sp+uint64(len(img)) != top {
		t.Fatalf("sp %#x, image of %d bytes", sp, len(img))
	}
	le := binary.LittleEndian
	word := func(a uint64) uint64 { return le.Uint64(img[a-sp:]) }
	str := func(a uint64) string {
		b := img[a-sp:]
		return string(b[:bytes.IndexByte(b, 0)])
	}
	if argc := word(sp); argc != 3 {
		t.Fatalf("argc = %d", argc)
	}
	a := sp + 8
	for i, want := range spec.argv {
		if got := str(word(a + uint64(i)*8)); got != want {
			t.Errorf("argv[%d] = %q, want %q", i, got, want)
		}
	}
	a += uint64(len(spec.argv)) * 8
	if word(a) != 0 {
		t.Error("argv not NULL-terminated")
	}
	a += 8
	for i, want := range spec.envp {
		if got := str(word(a + uint64(i)*8)); got != want {
			t.Errorf("envp[%d] = %q, want %q", i, got, want)
		}
	}
	a += uint64(len(spec.envp))*8 + 8
	aux := map[uint64]uint64{}
	for ; ; a += 16 {
		k, v := word(a), word(a+8)
		if k == atNull {
			break
		}
		aux[k] = v
	}
	if aux[atPagesz] != pageSize || aux[atEntry] != 0x401000 {
		t.Errorf("auxv = %v", aux)
	}
	if got := string(img[aux[atRandom]-sp:][:16]); got != "0123456789abcdef" {
		t.Errorf("AT_RANDOM bytes = %q", got)
	}
	if str(aux[atExecfn]) != "/bin/prog" || str(aux[atPlatform]) != "x86_64" {
		t.Errorf("AT_EXECFN %q, AT_PLATFORM %q", str(aux[atExecfn]), str(aux[atPlatform]))
	}
	if _, ok := aux[atSysinfoEhdr]; ok {
		t.Error("AT_SYSINFO_EHDR present: there is no vDSO")
	}
	if _, _, err := buildStack(top, stackSpec{argv: []string{strings.Repeat("x", 3<<20)}}); err == nil {
		t.Error("3 MiB of arguments accepted")
	}
}

func TestParseAuxv(t *testing.T) {
	b := make([]byte, 48)
	le := binary.LittleEndian
	le.PutUint64(b[0:], atHwcap)
	le.PutUint64(b[8:], 0x178bfbff)
	le.PutUint64(b[16:], atNull)
	le.PutUint64(b[32:], atPagesz) // after AT_NULL: ignored
	m := parseAuxv(b)
	if len(m) != 1 || m[atHwcap] != 0x178bfbff {
		t.Errorf("parseAuxv = %v", m)
	}
}

// TestRunLoadErrors checks that Run reports unloadable programs with a
// *LoadError naming the problem, without starting anything.
func TestRunLoadErrors(t *testing.T) {
	testutil.MustHaveKVM(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noInterp := makeELF(etDyn, 0x1000, []phdr{
		{typ: ptInterp, off: 0x200, filesz: 22},
		{typ: ptLoad, flags: pfR | pfX, vaddr: 0, filesz: 0x1000, memsz: 0x1000},
	}, 0x1000, func(b []byte) { copy(b[0x200:], "/nonexistent/ld.so.1\x00") })
	for _, tc := range []struct {
		name string
		path string
		want error
	}{
		{"missing file", filepath.Join(dir, "nope"), os.ErrNotExist},
		{"directory", dir, ErrNotELF},
		{"script", write("script.sh", []byte("#!/bin/sh\necho hi\n")), ErrScript},
		{"text", write("text", []byte("just text")), ErrNotELF},
		{"32-bit", write("elf32", append([]byte("\x7fELF\x01\x01\x01"), make([]byte, 60)...)), ErrELFClass},
		{"truncated", write("truncated", noInterp[:100]), ErrTruncated},
		{"missing interpreter", write("dyn", noInterp), ErrInterpreter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			_, err = vm.Run(context.Background(), tc.path, []string{tc.path})
			var le *LoadError
			if !errors.As(err, &le) || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want a LoadError matching %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}
