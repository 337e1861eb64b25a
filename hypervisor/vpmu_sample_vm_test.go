package hypervisor

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
)

// recordSink keeps copies of every sample.
type recordSink struct {
	mu      sync.Mutex
	samples []Sample
}

func (r *recordSink) Sample(s *Sample) {
	c := *s
	c.Stack = append([]uint64(nil), s.Stack...)
	r.mu.Lock()
	r.samples = append(r.samples, c)
	r.mu.Unlock()
}

// byTID sums the overflows and periods of the samples per thread.
func (r *recordSink) byTID() (overflows, periods map[int]uint64) {
	overflows, periods = map[int]uint64{}, map[int]uint64{}
	for _, s := range r.samples {
		overflows[s.TID] += s.Overflows
		periods[s.TID] += s.Period
	}
	return overflows, periods
}

// sampledRun is what a sampled run left behind.
type sampledRun struct {
	counts VPMUCounts
	sink   *recordSink
	stats  SamplingStats
	// ticks is the sampling period in the source's units.
	ticks  uint64
	stdout string
}

// sampled runs prog with the VMM counting spec and sampling sc into a
// recordSink; the program must succeed.
func sampled(t *testing.T, cfg Config, spec string, sc SamplingConfig, prog string, args ...string) sampledRun {
	t.Helper()
	testutil.MustHaveKVM(t)
	sink := &recordSink{}
	sc.Sink = sink
	cfg.VPMU.Sampling = sc
	cfg.VPMU.Spec = pmu.MustParseSpec(spec)
	vm, r, _ := runToSuccess(t, cfg, prog, args...)
	return sampledRun{counts: vm.VPMU().Counts(), sink: sink, stats: vm.VPMU().SamplingStats(),
		ticks: vm.pmu.samp.period, stdout: r.stdout}
}

// buildDynamicC compiles testdata/name.c as a dynamic executable.
func buildDynamicC(t testing.TB, name string, extra ...string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("skipping: gcc not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-O1", "-o", out, filepath.Join("testdata", name+".c")}, extra...)
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}

// gnuBuildID returns the GNU build ID of an ELF file, hex.
func gnuBuildID(t *testing.T, path string) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		return ""
	}
	b, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	gnu, _ := parseBuildIDNotes(b)
	return gnu
}

// elfFile opens a test binary and returns it and a function that reads
// the code bytes at a virtual address (ET_EXEC: addresses are the file's).
func elfFile(t *testing.T, path string) (*elf.File, func(addr uint64, n int) []byte) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func(addr uint64, n int) []byte {
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && addr >= p.Vaddr && addr+uint64(n) <= p.Vaddr+p.Filesz {
				b := make([]byte, n)
				if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		return nil
	}
}

// symbolAt names the function of a static binary that holds addr.
func symbolAt(t *testing.T, f *elf.File, addr uint64) string {
	t.Helper()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && addr >= s.Value && addr < s.Value+s.Size {
			return s.Name
		}
	}
	return fmt.Sprintf("%#x", addr)
}

// TestVPMUSampleTallyAttribution samples the system calls of 8 threads on
// 2 VCPUs sharing 1 PCPU, every 7 calls. Each thread's samples must stand
// for exactly floor(its own system calls / 7) overflows, as the VMM's
// exact per-thread tally counts them, and each sample's IP must be a
// SYSCALL instruction of the program.
func TestVPMUSampleTallyAttribution(t *testing.T) {
	prog := buildC(t, "vpmu_tally")
	const period = 7
	r := sampled(t, Config{VCPUs: 2, PCPUs: 1}, "syscalls",
		SamplingConfig{Event: pmu.MustParseSpec("syscalls").Events()[0], Period: period}, prog, "8")
	c, sink, st := r.counts, r.sink, r.stats
	overflows, periods := sink.byTID()
	si := eventIndex(t, c, "syscalls")
	if len(c.Threads) != 9 {
		t.Fatalf("%d threads, want 9", len(c.Threads))
	}
	for _, th := range c.Threads {
		n := th.Values[si].Raw
		if overflows[th.TID] != n/period || periods[th.TID] != n/period*period {
			t.Errorf("thread %d: %d system calls, samples for %d overflows (%d calls); want %d", th.TID, n,
				overflows[th.TID], periods[th.TID], n/period)
		}
	}
	f, code := elfFile(t, prog)
	funcs := map[string]int{}
	for _, s := range sink.samples {
		if b := code(s.IP, 2); b == nil || b[0] != 0x0f || b[1] != 0x05 {
			t.Fatalf("sample of thread %d at %#x (%s): % x is not a SYSCALL", s.TID, s.IP, symbolAt(t, f, s.IP), b)
		}
		funcs[symbolAt(t, f, s.IP)]++
		if s.Maps == nil || len(s.Maps.Maps) == 0 || s.Maps.Maps[0].File != prog {
			t.Fatalf("sample mappings %+v, want the program first", s.Maps)
		}
	}
	if funcs["worker"] == 0 {
		t.Errorf("no sample in the workers' system calls: %v", funcs)
	}
	if st.Samples != uint64(len(sink.samples)) || st.Kicks != 0 {
		t.Errorf("stats %+v for %d samples (a count needs no clock kicks)", st, len(sink.samples))
	}
	t.Logf("%d samples, in %v", len(sink.samples), funcs)
}

// TestVPMUSampleTimeExact samples task-clock every 200 µs of guest time
// of a compute loop on 2 threads: each thread's samples stand for exactly
// floor(its guest time / period) overflows, in TSC ticks as ref-cycles
// counts them, however late the sample clock's kicks came. Most samples
// must come from the clock (a compute loop makes no system calls).
func TestVPMUSampleTimeExact(t *testing.T) {
	prog := buildC(t, "bench", "-pthread")
	sc := SamplingConfig{Event: pmu.MustParseSpec("task-clock").Events()[0], Period: 200_000}
	r := sampled(t, Config{VCPUs: 2, PCPUs: 2}, "ref-cycles", sc, prog, "loop", "300000000")
	c, sink, st, ticks := r.counts, r.sink, r.stats, r.ticks
	overflows, periods := sink.byTID()
	ri := eventIndex(t, c, "ref-cycles")
	var total uint64
	for _, th := range c.Threads {
		n := th.Values[ri].Raw
		if overflows[th.TID] != n/ticks || periods[th.TID] != n/ticks*sc.Period {
			t.Errorf("thread %d: %d ticks of guest time, %d overflows (%d ns); want %d", th.TID, n,
				overflows[th.TID], periods[th.TID], n/ticks)
		}
		total += overflows[th.TID]
	}
	if total < 100 || st.Kicks < total/2 {
		t.Fatalf("%d overflows, %d clock kicks: the clock did not interrupt the loop", total, st.Kicks)
	}
	f, _ := elfFile(t, prog)
	funcs := map[string]int{}
	for _, s := range sink.samples {
		funcs[symbolAt(t, f, s.IP)]++
	}
	if funcs["main"] < len(sink.samples)*9/10 {
		t.Errorf("samples by function %v: want most in main's loop", funcs)
	}
	late := 0
	for _, s := range sink.samples {
		if s.Overflows > 1 {
			late++
		}
	}
	t.Logf("%d samples, %d overflows, %d kicks, %d late (more than one overflow)", len(sink.samples), total, st.Kicks, late)
}

// TestVPMUSampleStacks samples the system calls of a program whose call
// chain is known, built with frame pointers: every sample's stack must
// walk from the function that made the call through its callers to main.
func TestVPMUSampleStacks(t *testing.T) {
	prog := buildC(t, "vpmu_sample", "-O1", "-fno-omit-frame-pointer", "-fno-inline")
	sc := SamplingConfig{Event: pmu.MustParseSpec("syscalls").Events()[0], Period: 3, Stacks: true}
	r := sampled(t, Config{VCPUs: 1, PCPUs: 1}, "syscalls", sc, prog, "calls", "3000")
	sink, st := r.sink, r.stats
	f, _ := elfFile(t, prog)
	var chains int
	for _, s := range sink.samples {
		if symbolAt(t, f, s.IP) != "leaf_syscall" {
			continue
		}
		var names []string
		for _, r := range s.Stack {
			names = append(names, symbolAt(t, f, r-1))
		}
		if len(names) < 3 || names[0] != "inner" || names[1] != "outer" || names[2] != "main" {
			t.Fatalf("stack of a sample in leaf_syscall: %v (%v), want inner, outer, main", names, s.StackEnd)
		}
		chains++
	}
	if chains < 900 {
		t.Fatalf("%d samples in leaf_syscall, want 1000 (3000 calls every 3)", chains)
	}
	if st.Frames == 0 || st.StackEnds[StackNotWalked] != 0 {
		t.Errorf("stats %+v", st)
	}
	ends := map[string]uint64{}
	for e, n := range st.StackEnds {
		if n > 0 {
			ends[StackEnd(e).String()] = n
		}
	}
	t.Logf("%d samples, %d with the known chain; walks ended: %v", len(sink.samples), chains, ends)
}

// TestVPMUSampleMappings checks the mappings of a dynamic program's
// samples: the program, ld.so and libc, each with the file's own build ID
// and the file offsets of its segments.
func TestVPMUSampleMappings(t *testing.T) {
	prog := buildDynamicC(t, "vpmu_sample")
	sc := SamplingConfig{Event: pmu.MustParseSpec("syscalls").Events()[0], Period: 50}
	r := sampled(t, Config{VCPUs: 1, PCPUs: 1}, "syscalls", sc, prog, "calls", "300")
	last := r.sink.samples[len(r.sink.samples)-1].Maps
	files := map[string]bool{}
	var libc string
	for _, m := range last.Maps {
		files[m.File] = true
		if want := gnuBuildID(t, m.File); m.BuildID != want {
			t.Errorf("%s: build ID %q, want %q", m.File, m.BuildID, want)
		}
		if strings.Contains(filepath.Base(m.File), "libc.so") {
			libc = m.File
		}
	}
	if !files[prog] || libc == "" || len(files) != 3 {
		t.Fatalf("mapped files %v: want the program, ld.so and libc", files)
	}
	// Offsets: every mapping starts at an offset where Linux starts one
	// of the same file (it splits some that the VMM merges).
	stdout, _, _ := runNative(t, nil, prog, "maps")
	native := map[string]bool{}
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.Fields(l)
		if len(f) == 6 {
			native[filepath.Base(f[5])+" "+f[2]] = true
		}
	}
	for _, m := range last.Maps {
		if k := fmt.Sprintf("%s %08x", filepath.Base(m.File), m.Offset); !native[k] {
			t.Errorf("mapping %#x-%#x of %s at offset %#x: Linux maps no segment there (%v)", m.Start, m.Limit, m.File, m.Offset, native)
		}
	}
}

// TestVPMUSampleSignals runs a C guest that samples its own system calls
// through the paravirtual call with overflow signals, counting the
// deliveries in its handler: exactly floor(count/period), each with the
// slot and one overflow in si_value, with SIGPROF and with a real-time
// signal.
func TestVPMUSampleSignals(t *testing.T) {
	prog := buildC(t, "vpmu_sample")
	for _, tc := range []struct {
		name           string
		period, n, sig int
	}{
		{"SIGPROF", 10, 1000, 0},
		{"SIGRTMIN+2", 7, 2000, 36},
		{"every other call", 2, 500, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runGuest(t, Config{VCPUs: 1, PCPUs: 1}, prog, "signal", fmt.Sprint(tc.period), fmt.Sprint(tc.n), fmt.Sprint(tc.sig))
			if r.err != nil || r.status.Int() != 0 {
				t.Fatalf("guest: %v %v\n%s%s", r.status, r.err, r.stdout, r.stderr)
			}
			var count, delivered, overflows, bad uint64
			if _, err := fmt.Sscanf(r.stdout, "count %d delivered %d overflows %d bad %d", &count, &delivered, &overflows, &bad); err != nil {
				t.Fatalf("%q: %v", r.stdout, err)
			}
			// The calls counted: n getppid, one rt_sigreturn per
			// delivery, and the read itself; but when the read's own
			// call overflowed, its handler returned after the read.
			if base := uint64(tc.n) + delivered; count != base+1 && count != base {
				t.Errorf("count %d, want %d or %d", count, base+1, base)
			}
			if want := count / uint64(tc.period); delivered != want || overflows != want || bad != 0 {
				t.Errorf("count %d, period %d: %d signals for %d overflows (%d with a wrong slot or code), want %d",
					count, tc.period, delivered, overflows, bad, want)
			}
		})
	}
}

// TestVPMUSamplePrecise samples the instructions and the branches of a
// program whose every instruction is known, in precise mode: every 10th
// instruction of vpmu_tiny is its loop's DEC, every 10th branch its JNZ,
// so every sample is at exactly that instruction.
func TestVPMUSamplePrecise(t *testing.T) {
	prog := buildC(t, "vpmu_tiny", "-nostdlib")
	f, code := elfFile(t, prog)
	start := f.Entry
	// mov $100,%ecx (5 bytes), then dec %ecx (2), then jnz.
	if b := code(start, 9); b == nil || b[0] != 0xb9 || b[5] != 0xff || b[6] != 0xc9 || b[7] != 0x75 {
		t.Fatalf("unexpected code at the entry: % x", b)
	}
	for _, tc := range []struct {
		event string
		ip    uint64
		n     int
	}{
		{"instructions", start + 5, 20},
		{"branches", start + 7, 10},
	} {
		sc := SamplingConfig{Event: pmu.MustParseSpec(tc.event).Events()[0], Period: 10}
		r := sampled(t, Config{VCPUs: 1, PCPUs: 1, VPMU: VPMUConfig{Precise: true}}, tc.event, sc, prog)
		if len(r.sink.samples) != tc.n {
			t.Fatalf("%s: %d samples, want %d", tc.event, len(r.sink.samples), tc.n)
		}
		for _, s := range r.sink.samples {
			if s.IP != tc.ip || s.Overflows != 1 || s.Period != 10 {
				t.Fatalf("%s: sample at %#x (%d overflows, period %d), want every one at %#x", tc.event, s.IP, s.Overflows, s.Period, tc.ip)
			}
		}
	}
}
