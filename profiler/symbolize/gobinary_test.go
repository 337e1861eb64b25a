package symbolize

import (
	"github.com/vpmu/vpmu/profiler/internal/testprog"

	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goVariants are the builds of testdata/goprog the tests cover. Without
// DWARF (-w) the pclntab alone names functions and lines, and inlined
// code is attributed to the function it was inlined into.
var goVariants = []struct {
	name   string
	flags  []string
	dwarf  bool
	symtab bool
}{
	{"default", nil, true, true},
	{"pie", []string{"-buildmode=pie"}, true, true},
	{"no-dwarf", []string{"-ldflags=-w"}, false, true},
	{"stripped", []string{"-ldflags=-s -w"}, false, false},
}

func TestGoFunctions(t *testing.T) {
	mark := testprog.Markers(testprog.GoSource)
	// Symbol addresses come from the default build's symbol table; the
	// linker lays code out identically whatever -s and -w say.
	ref := testprog.NM(t, testprog.BuildGo(t, "goprog-ref"))
	for _, v := range goVariants {
		t.Run(v.name, func(t *testing.T) {
			bin := testprog.BuildGo(t, "goprog", v.flags...)
			b := openOrFatal(t, bin)
			info := b.Info()
			if !info.Go || info.HasInlineFrames != v.dwarf || !info.HasLineNumbers || !info.HasFunctions {
				t.Errorf("Info = %+v, want Go with DWARF %v", info, v.dwarf)
			}
			syms := ref
			if v.symtab {
				syms = testprog.NM(t, bin)
			}
			inlined := 0
			for _, fn := range []string{"main.hot", "main.cold"} {
				s, ok := syms[fn]
				if !ok {
					t.Fatalf("no symbol %s", fn)
				}
				for a := s.Addr; a < s.Addr+s.Size; a++ {
					fr := framesOrFatal(t, b, a)
					if len(fr) == 0 {
						t.Fatalf("Frames(%#x) = none, want %s", a, fn)
					}
					out := fr[len(fr)-1]
					if out.Function != fn || filepath.Base(out.File) != "main.go" {
						t.Fatalf("Frames(%#x) = %+v, want %s in main.go outermost", a, fr, fn)
					}
					if v.dwarf && out.StartLine != mark[strings.TrimPrefix(fn, "main.")] {
						t.Fatalf("Frames(%#x) = %+v, want start line %d", a, fr, mark[fn])
					}
					if !v.dwarf && (len(fr) != 1 || out.StartLine != 0) {
						t.Fatalf("Frames(%#x) = %+v, want one frame without a start line", a, fr)
					}
					if fn != "main.hot" {
						continue
					}
					switch {
					case v.dwarf && len(fr) == 2:
						inlined++
						want := []Frame{
							{Function: "main.mix", File: fr[0].File, Line: mark["mixbody"], StartLine: mark["mix"]},
							{Function: "main.hot", File: fr[1].File, Line: mark["callmix"], StartLine: mark["hot"]},
						}
						if fr[0] != want[0] || fr[1] != want[1] {
							t.Fatalf("Frames(%#x) = %+v, want %+v", a, fr, want)
						}
					case !v.dwarf && fr[0].Line == mark["mixbody"]:
						// mix's code, attributed to hot with mix's line.
						inlined++
					}
				}
			}
			if inlined == 0 {
				t.Errorf("no address of main.hot shows main.mix inlined")
			}
		})
	}
}

// TestGoAddr2lineAgreement compares with `go tool addr2line`, which reads
// the pclntab: over a spread of .text addresses (runtime included), the
// outermost function and the innermost position must agree.
func TestGoAddr2lineAgreement(t *testing.T) {
	for _, v := range goVariants {
		t.Run(v.name, func(t *testing.T) {
			bin := testprog.BuildGo(t, "goprog", v.flags...)
			lo, hi := textRange(t, bin)
			const spread = 3000
			var addrs []uint64
			for i := uint64(0); i < spread; i++ {
				addrs = append(addrs, lo+(hi-lo)*i/spread)
			}
			want := goAddr2line(t, bin, addrs)
			b := openOrFatal(t, bin)
			bad, none := 0, 0
			for i, a := range addrs {
				fr := framesOrFatal(t, b, a)
				got := "?? ?:0"
				if len(fr) > 0 {
					got = fmt.Sprintf("%s %s:%d", fr[len(fr)-1].Function, fr[0].File, fr[0].Line)
				} else {
					none++
				}
				if got != want[i] {
					bad++
					if bad <= 10 {
						t.Errorf("%#x: got %s, go tool addr2line %s (frames %+v)", a, got, want[i], fr)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d addresses disagree", bad, len(addrs))
			}
			t.Logf("%d addresses agree with go tool addr2line (%d outside any function)", len(addrs)-bad, none)
		})
	}
}

// goAddr2line runs go tool addr2line and returns "func file:line" per
// address, "?? ?:0" when it knows nothing.
func goAddr2line(t testing.TB, bin string, addrs []uint64) []string {
	t.Helper()
	var in bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintf(&in, "%#x\n", a)
	}
	cmd := exec.Command("go", "tool", "addr2line", bin)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool addr2line: %v", err)
	}
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fn := sc.Text()
		if !sc.Scan() {
			t.Fatalf("go tool addr2line: function %q without a position", fn)
		}
		res = append(res, fn+" "+sc.Text())
	}
	if len(res) != len(addrs) {
		t.Fatalf("go tool addr2line gave %d results for %d addresses", len(res), len(addrs))
	}
	return res
}
