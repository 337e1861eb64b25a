package symbolize

import (
	"github.com/vpmu/vpmu/profiler/internal/testprog"

	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cVariants are the builds of testdata/cprog.c the tests cover.
var cVariants = []struct {
	name  string
	flags []string
	debug bool
}{
	{"static-O1", []string{"-g", "-O1", "-static", "-no-pie"}, true},
	{"pie-O1", []string{"-g", "-O1", "-fPIE", "-pie"}, true},
	{"pie-O2", []string{"-g", "-O2", "-fPIE", "-pie"}, true},
	{"static-O1-nodebug", []string{"-O1", "-static", "-no-pie"}, false},
}

func TestCFunctions(t *testing.T) {
	mark := testprog.Markers(testprog.CSource)
	for _, v := range cVariants {
		t.Run(v.name, func(t *testing.T) {
			bin := testprog.BuildC(t, "cprog-"+v.name, v.flags...)
			syms := testprog.NM(t, bin)
			b := openOrFatal(t, bin)
			info := b.Info()
			if info.HasInlineFrames != v.debug || info.HasLineNumbers != v.debug || !info.HasFunctions {
				t.Errorf("Info = %+v, want debug information %v", info, v.debug)
			}
			for _, fn := range []string{"hot", "cold"} {
				s, ok := syms[fn]
				if !ok {
					t.Fatalf("nm does not list %s", fn)
				}
				// Every byte of the function resolves to it.
				for a := s.Addr; a < s.Addr+s.Size; a++ {
					fr := framesOrFatal(t, b, a)
					if len(fr) != 1 || fr[0].Function != fn {
						t.Fatalf("Frames(%#x) = %+v, want one frame of %s", a, fr, fn)
					}
				}
				if !v.debug {
					continue
				}
				// With DWARF: the declaration line, the file, and a
				// line inside the function's body (the compiler
				// decides which statement the entry belongs to).
				for a := s.Addr; a < s.Addr+s.Size; a++ {
					f := framesOrFatal(t, b, a)[0]
					if filepath.Base(f.File) != "cprog.c" || f.StartLine != mark[fn] || f.Line < mark[fn] || f.Line > mark[fn]+5 {
						t.Fatalf("Frames(%#x) = %+v, want cprog.c, start line %d, line in [%d,%d]", a, f, mark[fn], mark[fn], mark[fn]+5)
					}
				}
			}
			// Outside any function: the gap before the first text
			// byte has no symbol.
			if fr := framesOrFatal(t, b, 1); len(fr) != 0 {
				t.Errorf("Frames(1) = %+v, want none", fr)
			}
		})
	}
}

// TestCInline checks that code of the always_inline function mix inside
// caller gives two frames, the inlined one first, each with its own line.
func TestCInline(t *testing.T) {
	mark := testprog.Markers(testprog.CSource)
	for _, v := range cVariants {
		if !v.debug {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			bin := testprog.BuildC(t, "cprog-"+v.name, v.flags...)
			s := testprog.NM(t, bin)["caller"]
			b := openOrFatal(t, bin)
			inlined := 0
			for a := s.Addr; a < s.Addr+s.Size; a++ {
				fr := framesOrFatal(t, b, a)
				if len(fr) == 0 || fr[len(fr)-1].Function != "caller" {
					t.Fatalf("Frames(%#x) = %+v, want caller outermost", a, fr)
				}
				if len(fr) == 1 {
					continue
				}
				inlined++
				want := []Frame{
					{Function: "mix", File: fr[0].File, Line: mark["mixbody"], StartLine: mark["mix"]},
					{Function: "caller", File: fr[1].File, Line: mark["callmix"], StartLine: mark["caller"]},
				}
				if len(fr) != 2 || fr[0] != want[0] || fr[1] != want[1] {
					t.Fatalf("Frames(%#x) = %+v, want %+v", a, fr, want)
				}
			}
			if inlined == 0 {
				t.Fatalf("no address of caller [%#x,%#x) has mix inlined", s.Addr, s.Addr+s.Size)
			}
		})
	}
}

// TestAddr2lineAgreement compares every frame with GNU addr2line -i over
// the whole of the test functions and a spread of addresses across .text
// (static glibc code without DWARF included).
func TestAddr2lineAgreement(t *testing.T) {
	testprog.MustHaveTool(t, "addr2line")
	for _, v := range cVariants {
		t.Run(v.name, func(t *testing.T) {
			bin := testprog.BuildC(t, "cprog-"+v.name, v.flags...)
			syms := testprog.NM(t, bin)
			var addrs []uint64
			for _, fn := range []string{"hot", "cold", "caller", "main"} {
				s := syms[fn]
				for a := s.Addr; a < s.Addr+s.Size; a++ {
					addrs = append(addrs, a)
				}
			}
			lo, hi := textRange(t, bin)
			const spread = 1500
			for i := uint64(0); i < spread; i++ {
				addrs = append(addrs, lo+(hi-lo)*i/spread)
			}
			want := addr2line(t, bin, addrs)
			list := testprog.NMList(t, bin)
			alias := canonicalAliases(list)
			b := openOrFatal(t, bin)
			bad, padding := 0, 0
			for i, a := range addrs {
				got := framesOrFatal(t, b, a)
				if inPadding(list, a) {
					// addr2line names the preceding function even past
					// its end; sized symbols end where they say.
					padding++
					if len(got) != 0 {
						t.Errorf("%#x is padding after a function, got %+v", a, got)
					}
					continue
				}
				for i := range got {
					if c, ok := alias[got[i].Function]; ok {
						got[i].Function = c
					}
				}
				if g, w := formatFrames(got), canonicalize(want[i], alias); g != w {
					bad++
					if bad <= 10 {
						t.Errorf("%#x: got %s, addr2line %s", a, g, w)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d addresses disagree with addr2line", bad, len(addrs))
			}
			t.Logf("%d addresses agree with addr2line, %d are padding", len(addrs)-bad-padding, padding)
		})
	}
}

// canonicalAliases maps each name of a symbol that shares its address
// with others to the smallest such name: which alias names a function is
// a free choice, made differently by addr2line and by this package.
func canonicalAliases(list []testprog.Sym) map[string]string {
	byAddr := make(map[uint64][]string)
	for _, s := range list {
		byAddr[s.Addr] = append(byAddr[s.Addr], s.Name)
	}
	out := make(map[string]string)
	for _, names := range byAddr {
		if len(names) < 2 {
			continue
		}
		c := slices.Min(names)
		for _, n := range names {
			out[n] = c
		}
	}
	return out
}

// canonicalize rewrites the function names of an addr2line result.
func canonicalize(res string, alias map[string]string) string {
	parts := strings.Split(res, "; ")
	for i, p := range parts {
		fn, rest, _ := strings.Cut(p, " ")
		if c, ok := alias[fn]; ok {
			parts[i] = c + " " + rest
		}
	}
	return strings.Join(parts, "; ")
}

// inPadding reports whether addr lies after the end of the nearest
// preceding sized function symbol nm lists.
func inPadding(syms []testprog.Sym, addr uint64) bool {
	var best testprog.Sym
	found := false
	for _, s := range syms {
		if s.Addr <= addr && (!found || s.Addr > best.Addr || (s.Addr == best.Addr && s.Size > best.Size)) {
			best, found = s, true
		}
	}
	return found && best.Size > 0 && addr >= best.Addr+best.Size
}

// textRange returns the .text section's address range.
func textRange(t testing.TB, bin string) (uint64, uint64) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".text")
	if s == nil {
		t.Fatalf("%s has no .text", bin)
	}
	return s.Addr, s.Addr + s.Size
}

// formatFrames renders frames the way addr2line output is normalized:
// "fn file:line; ..." innermost first, file by base name, ? when unknown.
func formatFrames(fr []Frame) string {
	if len(fr) == 0 {
		return "?? ??:0"
	}
	var parts []string
	for _, f := range fr {
		name, file := f.Function, filepath.Base(f.File)
		if name == "" {
			name = "??"
		}
		if f.File == "" {
			file = "??"
		}
		parts = append(parts, fmt.Sprintf("%s %s:%d", name, file, f.Line))
	}
	return strings.Join(parts, "; ")
}

// addr2line runs GNU addr2line -a -f -i and returns, per address, its
// frames in the formatFrames form.
func addr2line(t testing.TB, bin string, addrs []uint64) []string {
	t.Helper()
	args := []string{"-a", "-f", "-i", "-e", bin}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("%#x", a))
	}
	out := testprog.Run(t, "", nil, "addr2line", args...)
	var res []string
	var cur []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "0x") {
			if cur != nil {
				res = append(res, strings.Join(cur, "; "))
			}
			cur = []string{}
			continue
		}
		fn := line
		if !sc.Scan() {
			t.Fatalf("addr2line: function %q without a position", fn)
		}
		pos := sc.Text()
		if i := strings.Index(pos, " (discriminator"); i >= 0 {
			pos = pos[:i]
		}
		file, lno, _ := strings.Cut(pos, ":")
		if lno == "?" || lno == "0" {
			// Without a line, addr2line still names the object file
			// from the symbol table's STT_FILE entries.
			file, lno = "??", "0"
		}
		if _, err := strconv.Atoi(lno); err != nil {
			t.Fatalf("addr2line position %q", pos)
		}
		if file != "??" {
			file = filepath.Base(file)
		}
		cur = append(cur, fmt.Sprintf("%s %s:%s", fn, file, lno))
	}
	if cur != nil {
		res = append(res, strings.Join(cur, "; "))
	}
	if len(res) != len(addrs) {
		t.Fatalf("addr2line gave %d results for %d addresses", len(res), len(addrs))
	}
	return res
}
