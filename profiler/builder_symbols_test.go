package profiler

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/profiler/internal/testprog"
	"github.com/vpmu/vpmu/profiler/symbolize"
)

// inlinedAddr returns a file address inside caller where another
// function's code is inlined (the symbolizer's own tests check such
// addresses against addr2line).
func inlinedAddr(t *testing.T, bin string, caller testprog.Sym) uint64 {
	t.Helper()
	b, err := symbolize.New(symbolize.Options{}).Open(bin, "")
	if err != nil {
		t.Fatal(err)
	}
	for a := caller.Addr; a < caller.Addr+caller.Size; a++ {
		if fr, _ := b.Frames(a); len(fr) == 2 {
			return a
		}
	}
	t.Fatalf("no inlined code in %s", caller.Name)
	return 0
}

// lines renders a location's lines innermost first as "fn:line".
func lines(l *profile.Location) []string {
	var out []string
	for _, ln := range l.Line {
		out = append(out, ln.Function.Name+":"+strconv.FormatInt(ln.Line, 10))
	}
	return out
}

// TestProfileLiveProcess samples addresses of a running program (C and
// Go, PIE and not), resolves them through its real /proc/PID/maps (read
// by the builder on first sight of the PID) and checks the symbolized
// profile against nm and the source markers.
func TestProfileLiveProcess(t *testing.T) {
	type prog struct {
		name  string
		build func(t *testing.T) string
		src   string
		file  string            // base name of the source file
		fn    map[string]string // reported name -> symbol name
		// inline is the symbol holding inlined code; inner and outer
		// are the functions its inlined location must show, at the
		// lines of the markers innerMark and outerMark.
		inline               string
		inner, outer         string
		innerMark, outerMark string
	}
	progs := []prog{
		{"c-pie-O2", func(t *testing.T) string { return testprog.BuildC(t, "cprog", "-g", "-O2", "-fPIE", "-pie") },
			testprog.CSource, "cprog.c", map[string]string{"hot": "hot", "cold": "cold"}, "caller", "mix", "caller", "mixbody", "callmix"},
		{"c-static-O1", func(t *testing.T) string { return testprog.BuildC(t, "cprog", "-g", "-O1", "-static", "-no-pie") },
			testprog.CSource, "cprog.c", map[string]string{"hot": "hot", "cold": "cold"}, "caller", "mix", "caller", "mixbody", "callmix"},
		{"go-pie", func(t *testing.T) string { return testprog.BuildGo(t, "goprog", "-buildmode=pie") },
			testprog.GoSource, "main.go", map[string]string{"hot": "main.hot", "cold": "main.cold"}, "main.hot", "main.mix", "main.hot", "mixbody", "callmix"},
		{"go", func(t *testing.T) string { return testprog.BuildGo(t, "goprog") },
			testprog.GoSource, "main.go", map[string]string{"hot": "main.hot", "cold": "main.cold"}, "main.hot", "main.mix", "main.hot", "mixbody", "callmix"},
	}
	for _, pr := range progs {
		t.Run(pr.name, func(t *testing.T) {
			bin := pr.build(t)
			mark := testprog.Markers(pr.src)
			syms := testprog.NM(t, bin)
			proc := testprog.Start(t, bin)
			// The load bias: runtime minus file address of hot.
			bias := proc.Addrs["hot"] - syms[pr.fn["hot"]].Addr
			inl := inlinedAddr(t, bin, syms[pr.inline]) + bias

			b, err := NewBuilder(Options{Event: "cycles", Period: 100, Symbolizer: symbolize.New(symbolize.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			// hot called from cold's body (a made-up but resolvable
			// stack: the return address is inside cold).
			b.Add(&Sample{IP: proc.Addrs["hot"] + 1, Stack: []uint64{proc.Addrs["cold"] + 2}, PID: proc.Pid, TID: proc.Pid, CPU: 0, VCPU: -1})
			b.Add(&Sample{IP: inl, PID: proc.Pid, TID: proc.Pid, CPU: 0, VCPU: -1})
			p := roundTrip(t, b)
			if w := b.Warnings(); len(w) > 0 {
				t.Errorf("warnings: %v", w)
			}

			s := findSample(t, p, proc.Addrs["hot"]+1, "")
			if got := s.Location[0].Line; len(got) != 1 || got[0].Function.Name != pr.fn["hot"] ||
				filepath.Base(got[0].Function.Filename) != pr.file ||
				got[0].Function.StartLine != int64(mark["hot"]) {
				t.Errorf("leaf lines %v (%+v)", lines(s.Location[0]), got[0].Function)
			}
			if got := s.Location[1]; got.Address != proc.Addrs["cold"]+1 || len(got.Line) != 1 || got.Line[0].Function.Name != pr.fn["cold"] {
				t.Errorf("caller location %#x %v", got.Address, lines(got))
			}
			i := findSample(t, p, inl, "")
			want := []string{pr.inner + ":" + strconv.Itoa(mark[pr.innerMark]), pr.outer + ":" + strconv.Itoa(mark[pr.outerMark])}
			if got := lines(i.Location[0]); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("inlined location: lines %v, want %v", got, want)
			}
			m := s.Location[0].Mapping
			if m.File != bin || !m.HasFunctions || !m.HasFilenames || !m.HasLineNumbers || !m.HasInlineFrames || m.BuildID == "" {
				t.Errorf("mapping %+v", m)
			}
			if p.Mapping[0] != m {
				t.Errorf("first mapping is %s, want the executable", p.Mapping[0].File)
			}
		})
	}
}

// TestPprofTop writes a profile with a 3:1 ratio of samples between two
// functions and checks what go tool pprof -top shows for both values.
func TestPprofTop(t *testing.T) {
	bin := testprog.BuildC(t, "cprog", "-g", "-O1", "-static", "-no-pie")
	proc := testprog.Start(t, bin)
	b, err := NewBuilder(Options{Event: "cycles", Period: 1000, Symbolizer: symbolize.New(symbolize.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		ip := proc.Addrs["hot"] + uint64(i%8)
		if i%4 == 3 {
			ip = proc.Addrs["cold"] + uint64(i%8)
		}
		b.Add(&Sample{IP: ip, PID: proc.Pid, TID: proc.Pid + i%2, CPU: i % 2, VCPU: -1})
	}
	path := filepath.Join(t.TempDir(), "cpu.pb.gz")
	p := roundTrip(t, b)
	if err := writeFile(path, p); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		index     string
		hot, cold int64
	}{{"0", 300, 100}, {"1", 300000, 100000}} {
		cmd := exec.Command("go", "tool", "pprof", "-top", "-sample_index="+tt.index, path)
		cmd.Env = append(cmd.Environ(), "PPROF_TMPDIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go tool pprof: %v\n%s", err, out)
		}
		flat := map[string]int64{}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 6 && strings.HasSuffix(f[1], "%") {
				v, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					flat[f[5]] = v
				}
			}
		}
		if flat["hot"] != tt.hot || flat["cold"] != tt.cold {
			t.Errorf("-sample_index=%s: flat hot %d cold %d, want %d and %d; output:\n%s", tt.index, flat["hot"], flat["cold"], tt.hot, tt.cold, out)
		}
		t.Logf("go tool pprof -top -sample_index=%s:\n%s", tt.index, out)
	}
}
