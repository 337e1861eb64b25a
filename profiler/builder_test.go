package profiler

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/profiler/symbolize"
)

// roundTrip writes p's builder output and parses it back, as go tool pprof
// would read it. CheckValid alone accepts dangling locations; Parse does
// not.
func roundTrip(t testing.TB, b *Builder) *profile.Profile {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		t.Fatalf("Write: %v", err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatalf("Parse of the written profile: %v", err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatalf("parsed profile invalid: %v", err)
	}
	return p
}

// findSample returns the sample whose leaf location has the address.
func findSample(t testing.TB, p *profile.Profile, leaf uint64, vm string) *profile.Sample {
	t.Helper()
	for _, s := range p.Sample {
		if len(s.Location) > 0 && s.Location[0].Address == leaf && strings.Join(s.Label["vm"], "") == vm {
			return s
		}
	}
	t.Fatalf("no sample with leaf %#x (vm %q)", leaf, vm)
	return nil
}

func addrs(s *profile.Sample) []uint64 {
	var out []uint64
	for _, l := range s.Location {
		out = append(out, l.Address)
	}
	return out
}

func TestBuilderRoundTrip(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	procs := NewProcesses(false)
	for _, m := range []Mapping{
		{Start: 0x7f0000000000, Limit: 0x7f0000100000, Offset: 0x2000, File: "/lib/libc.so.6", BuildID: "abcd"},
		{Start: 0x400000, Limit: 0x500000, File: "/bin/app"},
		{Start: 0x7ffd0000, Limit: 0x7ffd2000, File: "[vdso]"},
	} {
		if err := procs.Mmap("", 10, m); err != nil {
			t.Fatal(err)
		}
	}
	procs.Comm("", 10, 10, "app", false)
	procs.Comm("", 10, 11, "app-worker", false)
	b, err := NewBuilder(Options{
		Event: "cycles:u", Period: 1000, Start: start, Processes: procs,
		CommandLine: []string{"vpmu", "record", "--", "app"}, Comments: []string{"note: test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	user := &Sample{IP: 0x401000, Stack: []uint64{0x402005, 0x7f0000001000, 0, 0x999}, PID: 10, TID: 11, CPU: 1, VCPU: -1, Time: 100}
	b.Add(user)
	b.Add(user) // aggregated with the first
	b.Add(&Sample{IP: 0xffffffff81000000, Stack: []uint64{0x401500}, PID: 10, TID: 10, CPU: 0, VCPU: -1, Period: 3000, Time: 5000})
	b.Add(&Sample{IP: 0x400100, PID: 10, TID: 10, CPU: 0, VCPU: 2, VM: "vm0", Comm: "guest", Time: 3000})
	b.Add(&Sample{IP: 0x7ffd0100, Stack: []uint64{0x401001}, PID: 10, TID: 10, CPU: -1, VCPU: -1})
	b.AddLost(5)

	p := roundTrip(t, b)
	want := []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cycles:u", Unit: "count"}}
	if !reflect.DeepEqual(p.SampleType, want) || p.DefaultSampleType != "cycles:u" {
		t.Errorf("SampleType = %v, default %q", p.SampleType, p.DefaultSampleType)
	}
	if p.PeriodType.Type != "cycles:u" || p.PeriodType.Unit != "count" || p.Period != 1000 {
		t.Errorf("period %v %d", p.PeriodType, p.Period)
	}
	if p.TimeNanos != start.UnixNano() || p.DurationNanos != 4900 {
		t.Errorf("TimeNanos %d DurationNanos %d", p.TimeNanos, p.DurationNanos)
	}
	comments := strings.Join(p.Comments, "\n")
	for _, c := range []string{"vpmu-version: ", "command: vpmu record -- app", "note: test", "lost samples: 5 of 10", "frames outside any known mapping: 1"} {
		if !strings.Contains(comments, c) {
			t.Errorf("comments lack %q:\n%s", c, comments)
		}
	}
	if len(p.Sample) != 5 {
		t.Errorf("%d samples, want 5 (4 distinct + lost)", len(p.Sample))
	}

	// Leaf first; return addresses looked up one byte back; the stack
	// ends at the zero.
	s := findSample(t, p, 0x401000, "")
	if got := addrs(s); !slices.Equal(got, []uint64{0x401000, 0x402004, 0x7f0000000fff}) {
		t.Errorf("stack %#x", got)
	}
	if !slices.Equal(s.Value, []int64{2, 2000}) {
		t.Errorf("values %v, want [2 2000]", s.Value)
	}
	if got := []string{s.Location[0].Mapping.File, s.Location[1].Mapping.File, s.Location[2].Mapping.File}; !slices.Equal(got, []string{"/bin/app", "/bin/app", "/lib/libc.so.6"}) {
		t.Errorf("mappings %v", got)
	}
	if m := s.Location[2].Mapping; m.Offset != 0x2000 || m.BuildID != "abcd" || m.HasFunctions {
		t.Errorf("libc mapping %+v", m)
	}
	wantLabels := map[string][]string{"comm": {"app-worker"}}
	wantNum := map[string][]int64{"pid": {10}, "tid": {11}, "cpu": {1}}
	if !reflect.DeepEqual(s.Label, wantLabels) || !reflect.DeepEqual(s.NumLabel, wantNum) || s.NumUnit["cpu"][0] != "cpu" {
		t.Errorf("labels %v %v %v", s.Label, s.NumLabel, s.NumUnit)
	}

	k := findSample(t, p, 0xffffffff81000000, "")
	if l := k.Location[0]; l.Mapping.File != "[kernel.kallsyms]" || len(l.Line) != 1 || l.Line[0].Function.Name != KernelFunction {
		t.Errorf("kernel location %+v", l)
	}
	if !slices.Equal(k.Value, []int64{1, 3000}) {
		t.Errorf("kernel sample values %v", k.Value)
	}

	g := findSample(t, p, 0x400100, "vm0")
	if g.Location[0].Mapping != nil {
		t.Errorf("guest address resolved against host mappings: %+v", g.Location[0].Mapping)
	}
	if !reflect.DeepEqual(g.Label, map[string][]string{"comm": {"guest"}, "vm": {"vm0"}}) || g.NumLabel["vcpu"][0] != 2 || g.NumLabel["cpu"][0] != 0 {
		t.Errorf("guest labels %v %v", g.Label, g.NumLabel)
	}

	v := findSample(t, p, 0x7ffd0100, "")
	if l := v.Location[0]; l.Mapping.File != "[vdso]" || len(l.Line) != 0 {
		t.Errorf("vdso location %+v", l)
	}
	if _, ok := v.NumLabel["cpu"]; ok {
		t.Errorf("unknown CPU labelled: %v", v.NumLabel)
	}

	var lost *profile.Sample
	for _, s := range p.Sample {
		if len(s.Location) == 1 && len(s.Location[0].Line) == 1 && s.Location[0].Line[0].Function.Name == LostFunction {
			lost = s
		}
	}
	if lost == nil || !slices.Equal(lost.Value, []int64{5, 5000}) {
		t.Errorf("lost sample %+v", lost)
	}

	// The process with the most samples maps /bin/app lowest: it is the
	// main binary, first in the list.
	if p.Mapping[0].File != "/bin/app" {
		t.Errorf("first mapping %q, want /bin/app", p.Mapping[0].File)
	}
	// Locations are shared: 0x401000 and 0x401001-1 are distinct
	// addresses, every address appears once.
	seen := map[uint64]bool{}
	for _, l := range p.Location {
		if seen[l.Address] && l.Address != 0 {
			t.Errorf("address %#x has two locations", l.Address)
		}
		seen[l.Address] = true
	}
}

func TestBuilderPeriod(t *testing.T) {
	b, err := NewBuilder(Options{Event: "task-clock", Processes: NewProcesses(false)})
	if err != nil {
		t.Fatal(err)
	}
	for _, period := range []uint64{1000, 3000, 2000} {
		b.Add(&Sample{IP: 0x1000, Period: period, CPU: -1, VCPU: -1})
	}
	p := roundTrip(t, b)
	if p.Period != 2000 || p.PeriodType.Unit != "nanoseconds" || p.SampleType[1].Unit != "nanoseconds" {
		t.Errorf("period %d %v, sample types %v", p.Period, p.PeriodType, p.SampleType)
	}
	if len(p.Sample) != 1 || !slices.Equal(p.Sample[0].Value, []int64{3, 6000}) {
		t.Errorf("samples %v", p.Sample)
	}
	if p.DurationNanos != 0 {
		t.Errorf("DurationNanos %d without timestamps", p.DurationNanos)
	}
	if added, lost := b.Samples(); added != 3 || lost != 0 {
		t.Errorf("Samples() = %d, %d", added, lost)
	}

	if _, err := NewBuilder(Options{}); !errors.Is(err, ErrNoEvent) {
		t.Errorf("NewBuilder without an event: %v", err)
	}
	// An empty profile is still a valid file.
	e, _ := NewBuilder(Options{Event: "cycles"})
	if p := roundTrip(t, e); len(p.Sample) != 0 {
		t.Errorf("empty builder wrote %d samples", len(p.Sample))
	}
}

func writeFile(path string, p *profile.Profile) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestBuilderWarnings checks that what could not be resolved is said, in
// Warnings and in the profile's comments, and that the samples are kept.
func TestBuilderWarnings(t *testing.T) {
	procs := NewProcesses(true)
	if err := procs.Mmap("", 1, Mapping{Start: 0x400000, Limit: 0x500000, File: "/nonexistent/prog"}); err != nil {
		t.Fatal(err)
	}
	b, err := NewBuilder(Options{Event: "cycles", Processes: procs, Symbolizer: symbolize.New(symbolize.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	b.Add(&Sample{IP: 0x400010, PID: 1, TID: 1, CPU: -1, VCPU: -1})
	b.Add(&Sample{IP: 0x400020, PID: 1, TID: 1, CPU: -1, VCPU: -1})
	const gone = 1<<22 + 12345 // above any pid_max: no such process
	b.Add(&Sample{IP: 0x400010, PID: gone, TID: gone, CPU: -1, VCPU: -1})
	p := roundTrip(t, b)
	w := b.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "/proc/4206649/maps") || !strings.Contains(w[1], "/nonexistent/prog") {
		t.Errorf("warnings %q, want one for the missing process and one for the missing file (once)", w)
	}
	comments := strings.Join(p.Comments, "\n")
	if !strings.Contains(comments, "warning: symbolize /nonexistent/prog") || !strings.Contains(comments, "frames outside any known mapping: 1") {
		t.Errorf("comments:\n%s", comments)
	}
	if len(p.Sample) != 3 {
		t.Errorf("%d samples, want 3", len(p.Sample))
	}
	for _, m := range p.Mapping {
		if m.HasFunctions {
			t.Errorf("mapping %s claims functions", m.File)
		}
	}
}
