package profiler

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/profiler/internal/testprog"
	"github.com/vpmu/vpmu/profiler/symbolize"
)

// This file checks the pipeline on real sampling data: perf record
// samples a test program, the raw records (perf script -D) are replayed
// through Record as a Stream, and every frame of every sample must get
// the name perf itself gives it (perf script).

// perfDumpStream parses perf script -D output into events, in the file's
// order: perf record copies the per-CPU rings in turn, so the records are
// out of time order just as a live reader sees them.
func perfDumpStream(t *testing.T, dump []byte) []Event {
	t.Helper()
	var (
		hdrRE    = regexp.MustCompile(`^(\d+) 0x[0-9a-f]+ \[0x[0-9a-f]+\]: PERF_RECORD_(\w+)(.*)$`)
		sampleRE = regexp.MustCompile(`^\(IP, 0x[0-9a-f]+\): (\d+)/(\d+): 0x([0-9a-f]+) period: (\d+)`)
		chainRE  = regexp.MustCompile(`^\.\.\. FP chain: nr:(\d+)$`)
		entryRE  = regexp.MustCompile(`^\.{5}\s+\d+: ([0-9a-f]+)$`)
		mmapRE   = regexp.MustCompile(`^ (-?\d+)/(-?\d+): \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ (\S+) (?:<([0-9a-f]+)>|[^\]]*)\]: \S+ (.*)$`)
		commRE   = regexp.MustCompile(`^( exec)?: (.*):(\d+)/(\d+)$`)
		taskRE   = regexp.MustCompile(`^\((\d+):(\d+)\):\((\d+):(\d+)\)$`)
		lostRE   = regexp.MustCompile(`lost:?\s*(\d+)`)
	)
	hex := func(s string) uint64 {
		v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("perf dump: number %q: %v", s, err)
		}
		return v
	}
	num := func(s string) int {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("perf dump: number %q: %v", s, err)
		}
		return v
	}
	var recs []Event
	var cur *Sample
	var chain []uint64
	flush := func() {
		if cur != nil {
			cur.Stack = CallchainStack(nil, cur.IP, chain)
			cur, chain = nil, nil
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(dump))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if cur != nil {
			if m := entryRE.FindStringSubmatch(line); m != nil {
				chain = append(chain, hex(m[1]))
				continue
			}
			if chainRE.MatchString(line) {
				continue
			}
		}
		h := hdrRE.FindStringSubmatch(line)
		if h == nil {
			continue
		}
		flush()
		tm, _ := strconv.ParseUint(h[1], 10, 64)
		kind, rest := h[2], h[3]
		var ev Event
		switch kind {
		case "SAMPLE":
			m := sampleRE.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("perf dump: sample %q", line)
			}
			period, _ := strconv.ParseUint(m[4], 10, 64)
			cur = &Sample{PID: num(m[1]), TID: num(m[2]), IP: hex(m[3]), Period: period, Time: tm, CPU: -1, VCPU: -1}
			ev = cur
		case "MMAP2", "MMAP":
			m := mmapRE.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("perf dump: mmap %q", line)
			}
			if num(m[1]) < 0 {
				continue // the kernel's own map
			}
			off := hex(m[5])
			start := hex(m[3])
			ev = &MmapEvent{PID: num(m[1]), TID: num(m[2]), Mapping: Mapping{Start: start, Limit: start + hex(m[4]), Offset: off, File: m[7], BuildID: m[6]}}
		case "COMM":
			m := commRE.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("perf dump: comm %q", line)
			}
			ev = &CommEvent{Comm: m[2], PID: num(m[3]), TID: num(m[4]), Exec: m[1] != ""}
		case "FORK", "EXIT":
			m := taskRE.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("perf dump: task %q", line)
			}
			if kind == "FORK" {
				ev = &ForkEvent{PID: num(m[1]), TID: num(m[2]), PPID: num(m[3]), PTID: num(m[4])}
			} else {
				ev = &ExitEvent{PID: num(m[1]), TID: num(m[2]), PPID: num(m[3]), PTID: num(m[4])}
			}
		case "LOST", "LOST_SAMPLES":
			m := lostRE.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("perf dump: lost %q", line)
			}
			n, _ := strconv.ParseUint(m[1], 10, 64)
			ev = &LostEvent{Count: n}
		default:
			continue
		}
		setTime(ev, tm)
		recs = append(recs, ev)
	}
	flush()
	return recs
}

func setTime(ev Event, t uint64) {
	switch ev := ev.(type) {
	case *Sample:
		ev.Time = t
	case *MmapEvent:
		ev.Time = t
	case *CommEvent:
		ev.Time = t
	case *ForkEvent:
		ev.Time = t
	case *ExitEvent:
		ev.Time = t
	case *LostEvent:
		ev.Time = t
	}
}

// perfFrame is one frame as perf script names it.
type perfFrame struct {
	addr   uint64
	name   string // symbol, "[unknown]", or "[vdso]"/"[kernel]" (see below)
	offset uint64 // offset into the symbol
	dso    string
}

// perfScriptFrames parses perf script --ns -F tid,time,ip,sym,symoff,dso:
// per sample time, its frames leaf first.
func perfScriptFrames(t *testing.T, out []byte) map[uint64][]perfFrame {
	t.Helper()
	headRE := regexp.MustCompile(`^\s*\d+\s+(\d+)\.(\d{9}):\s*$`)
	frameRE := regexp.MustCompile(`^\s+([0-9a-f]+) (.+?)(?:\+0x([0-9a-f]+))? \((.*)\)$`)
	res := make(map[uint64][]perfFrame)
	var cur uint64
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := headRE.FindStringSubmatch(line); m != nil {
			s, _ := strconv.ParseUint(m[1], 10, 64)
			ns, _ := strconv.ParseUint(m[2], 10, 64)
			cur = s*1e9 + ns
			res[cur] = []perfFrame{}
			continue
		}
		if m := frameRE.FindStringSubmatch(line); m != nil && cur != 0 {
			a, _ := strconv.ParseUint(m[1], 16, 64)
			off, _ := strconv.ParseUint(m[3], 16, 64)
			res[cur] = append(res[cur], perfFrame{addr: a, name: m[2], offset: off, dso: m[4]})
		}
	}
	return res
}

func TestPerfRecordPipeline(t *testing.T) {
	testprog.MustHaveTool(t, "perf")
	t.Run("c", func(t *testing.T) {
		perfPipeline(t, testprog.BuildC(t, "cprog", "-g", "-O1", "-fno-omit-frame-pointer", "-fPIE", "-pie"), "hot", "20000000")
	})
	// A Go program has several threads (FORK records) and names its
	// assembly functions without the symbol table's ABI suffixes.
	t.Run("go", func(t *testing.T) {
		perfPipeline(t, testprog.BuildGo(t, "goprog"), "main.hot", "100000000")
	})
}

// perfPipeline records bin under perf, replays the records through Record
// and compares every frame with perf script.
func perfPipeline(t *testing.T, bin, hotName, arg string) {
	data := filepath.Join(t.TempDir(), "perf.data")
	record := func(extra ...string) error {
		args := append([]string{"record", "-q", "-e", "cpu-clock", "-c", "100000", "-g", "-o", data}, extra...)
		cmd := exec.Command("perf", append(args, "--", bin, arg)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.New(err.Error() + ": " + string(out))
		}
		return nil
	}
	// Build IDs in MMAP2 records need a recent kernel and perf.
	if err := record("--buildid-mmap"); err != nil {
		if err := record(); err != nil {
			// Sampling needs perf_event_open; with VPMU_REQUIRE=perf
			// (as on CI) its absence is a failure.
			if strings.Contains(os.Getenv("VPMU_REQUIRE"), "perf") {
				t.Fatalf("perf record: %v", err)
			}
			t.Skipf("skipping: perf record cannot sample here: %v", err)
		}
	}
	dump := testprog.Run(t, "", nil, "perf", "script", "-D", "-i", data)
	script := testprog.Run(t, "", nil, "perf", "script", "--ns", "-F", "tid,time,ip,sym,symoff,dso", "-i", data)
	events := perfDumpStream(t, dump)
	// A live reader takes records from the per-CPU rings in turn, so a
	// record can come after later ones of another CPU. Reverse blocks of
	// records to make sure Record restores the order.
	const block = 40
	for i := 0; i < len(events); i += block {
		slices.Reverse(events[i:min(i+block, len(events))])
	}
	want := perfScriptFrames(t, script)
	outOfOrder := 0
	for i, last := 0, uint64(0); i < len(events); i++ {
		if tm := events[i].time(); tm != 0 {
			if tm < last {
				outOfOrder++
			}
			last = max(last, tm)
		}
	}

	sym := symbolize.New(symbolize.Options{KallsymsPath: "/proc/kallsyms"})
	kernelNamed := false
	if k, _ := sym.Kallsyms(); k != nil {
		kernelNamed = true
	}
	b, err := NewBuilder(Options{Event: "cpu-clock", Period: 100000, Symbolizer: sym, Processes: NewProcesses(false)})
	if err != nil {
		t.Fatal(err)
	}
	// Capture each sample's location ids as the Builder makes them.
	var stacks [][]int32
	var times []uint64
	b.addHook = func(s *Sample, ids []int32) {
		stacks = append(stacks, append([]int32(nil), ids...))
		times = append(times, s.Time)
	}
	stats, err := Record(context.Background(), &sliceStream{events: events}, b, RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Profile(); err != nil {
		t.Fatal(err)
	}
	if stats.Samples < 100 || !sort.SliceIsSorted(times, func(i, j int) bool { return times[i] < times[j] }) {
		t.Fatalf("%d samples, applied in time order: %v", stats.Samples, sort.SliceIsSorted(times, func(i, j int) bool { return times[i] < times[j] }))
	}
	if w := b.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}

	ours := func(id int32) string {
		l := b.locs[id]
		if fr := b.resolved[id].frames; len(fr) > 0 {
			return fr[len(fr)-1].Function
		}
		if l.mapping >= 0 && b.mappings[l.mapping].File == "[vdso]" {
			return "[vdso]"
		}
		return "[unknown]"
	}
	theirs := func(f perfFrame) string {
		switch {
		case f.dso == "[vdso]":
			return "[vdso]" // perf reads the vdso image; vpmu does not
		case f.dso == "[kernel.kallsyms]" && !kernelNamed:
			return KernelFunction
		}
		// Go's symbol table marks assembly functions with their ABI;
		// the Go name (pclntab, runtime/pprof) has no suffix.
		return strings.TrimSuffix(f.name, ".abi0")
	}
	aliases := &aliasOracle{}
	frames, bad, hot := 0, 0, 0
	for i, ids := range stacks {
		pf, ok := want[times[i]]
		if !ok {
			t.Fatalf("perf script has no sample at %d", times[i])
		}
		// perf prints the zero that ends a frame-pointer chain; vpmu
		// stops there.
		for len(pf) > 0 && pf[len(pf)-1].addr == 0 {
			pf = pf[:len(pf)-1]
		}
		if len(pf) != len(ids) {
			t.Errorf("sample at %d: %d frames, perf has %d", times[i], len(ids), len(pf))
			continue
		}
		for j, id := range ids {
			frames++
			w := theirs(pf[j])
			// perf names a return address itself; vpmu the byte
			// before, inside the call. They differ only when the call
			// was the last instruction of a function (a call to a
			// noreturn function), where perf names the next function.
			if j > 0 && pf[j].offset == 0 {
				continue
			}
			if g := ours(id); g != w && !aliases.same(t, b, id, g, w) {
				bad++
				if bad <= 10 {
					t.Errorf("sample at %d frame %d (%#x): %q, perf %q", times[i], j, pf[j].addr, g, w)
				}
			}
			if j == 0 && w == hotName {
				hot++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d frames disagree with perf", bad, frames)
	}
	if hot == 0 {
		t.Errorf("no sample in hot, the program's hottest function")
	}
	t.Logf("%d samples (%d records read out of time order), %d frames agree with perf script; %d samples in %s; stats %+v",
		len(stacks), outOfOrder, frames-bad, hot, hotName, stats)
}

// sliceStream replays events, then ends.
type sliceStream struct{ events []Event }

func (s *sliceStream) Next(ctx context.Context) (Event, error) {
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

// aliasOracle tells whether two names are aliases of one function (the
// same address in the symbol table, which alias names a function is a
// free choice), using nm and /proc/kallsyms as the reference.
type aliasOracle struct {
	files map[string]map[string]uint64
}

func (o *aliasOracle) same(t *testing.T, b *Builder, id int32, ours, perf string) bool {
	var tables []map[string]uint64
	l := b.locs[id]
	switch {
	case l.kernel:
		tables = append(tables, o.table(t, "/proc/kallsyms", true))
	case l.mapping >= 0:
		tables = append(tables, o.table(t, b.mappings[l.mapping].File, false))
		if bin := b.binaries[l.mapping]; bin != nil && bin.Info().DebugFile != "" {
			tables = append(tables, o.table(t, bin.Info().DebugFile, false))
		}
	}
	for _, tab := range tables {
		a, ok1 := tab[ours]
		p, ok2 := tab[perf]
		if ok1 && ok2 && a == p {
			return true
		}
	}
	return false
}

// table returns name -> address of a file's symbols (nm) or of kallsyms.
func (o *aliasOracle) table(t *testing.T, path string, kallsyms bool) map[string]uint64 {
	if o.files == nil {
		o.files = make(map[string]map[string]uint64)
	}
	if tab, ok := o.files[path]; ok {
		return tab
	}
	tab := make(map[string]uint64)
	if kallsyms {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 {
				a, _ := strconv.ParseUint(f[0], 16, 64)
				tab[f[2]] = a
			}
		}
	} else {
		for _, s := range testprog.NMList(t, path) {
			tab[s.Name] = s.Addr
		}
	}
	o.files[path] = tab
	return tab
}
