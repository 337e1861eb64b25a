package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// recordTestMarker is a function of this test binary that fake samples
// point into: the profile must name it.
//
//go:noinline
func recordTestMarker(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i
	}
	return s
}

// markerRecords are the records of a process 4242 that execs this test
// binary and is sampled three times in recordTestMarker and once in the
// kernel.
func markerRecords(t *testing.T) []perfevent.Record {
	t.Helper()
	start, limit, off, exe := textMapping(t)
	pc := uint64(reflect.ValueOf(recordTestMarker).Pointer()) + 4
	hdr := func(typ perfevent.RecordType, time uint64) perfevent.RecordHeader {
		return perfevent.RecordHeader{Type: typ, Identity: perfevent.Identity{Time: time}}
	}
	sample := func(time uint64) perfevent.Record {
		return &perfevent.SampleRecord{RecordHeader: hdr(perfevent.RecordSample, 0), IP: pc, PID: 4242, TID: 4243, Time: time, CPU: 1, Period: 250000}
	}
	return []perfevent.Record{
		// A sample read before the records it needs, as from another
		// CPU's ring: Record applies them in time order.
		sample(30),
		&perfevent.CommRecord{RecordHeader: perfevent.RecordHeader{Type: perfevent.RecordComm, Misc: 0x2000, Identity: perfevent.Identity{Time: 10}}, PID: 4242, TID: 4242, Comm: "marker"},
		&perfevent.ForkRecord{RecordHeader: hdr(perfevent.RecordFork, 0), PID: 4242, PPID: 4242, TID: 4243, PTID: 4242, Time: 12},
		&perfevent.Mmap2Record{RecordHeader: hdr(perfevent.RecordMmap2, 11), PID: 4242, TID: 4242, Addr: start, Len: limit - start, Pgoff: off, Filename: exe},
		sample(31),
		sample(32),
		&perfevent.SampleRecord{RecordHeader: perfevent.RecordHeader{Type: perfevent.RecordSample, Misc: 1}, IP: 0xffffffff81000010, PID: 4242, TID: 4243, Time: 33, Period: 250000},
		&perfevent.LostRecord{RecordHeader: hdr(perfevent.RecordLost, 34), Lost: 2},
		&perfevent.ThrottleRecord{RecordHeader: hdr(perfevent.RecordThrottle, 0), Time: 35},
	}
}

// profileFunctions sums the second sample value per leaf function.
func profileFunctions(p *profile.Profile) map[string]int64 {
	out := map[string]int64{}
	for _, s := range p.Sample {
		if len(s.Location) == 0 || len(s.Location[0].Line) == 0 {
			continue
		}
		out[s.Location[0].Line[0].Function.Name] += s.Value[1]
	}
	return out
}

func TestRecordFallbackToCPUClock(t *testing.T) {
	h := newRecordHarness(t)
	h.smp.records = func(pmu.Target) []perfevent.Record { return markerRecords(t) }
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	code := h.run("record", "-o", out, "--", "sh", "-c", "exit 3")
	if code != 3 {
		t.Fatalf("exit %d, want the command's 3; stderr:\n%s", code, h.stderr.String())
	}
	stderr := h.stderr.String()
	for _, want := range []string{
		"vpmu record: The cycles event is not supported, falling back to cpu-clock (" + pmu.ReasonNoHardwarePMU + ")\n",
		"vpmu record: 2 samples lost: the ring buffer was full; use a larger -m or a lower -F\n",
		"vpmu record: the kernel throttled sampling 1 times",
		"[ vpmu record: 4 samples of cpu-clock (4000 Hz), 2 lost; wrote " + out,
		"[ vpmu record: view with: go tool pprof -top " + out + " ]\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	log := h.smp.history()
	if !strings.Contains(log, "refuse cycles") || !strings.Contains(log, "open cpu-clock pid=") || !strings.Contains(log, "inherit=true enable-on-exec=true") {
		t.Errorf("sampler log:\n%s", log)
	}
	if s := h.smp.samplers[0]; !s.cfg.BuildID || s.cfg.Freq != defaultRecordFreq {
		t.Errorf("sampler config %+v", s.cfg)
	}

	p := h.profile(out)
	if got := []string{p.SampleType[0].Type + "/" + p.SampleType[0].Unit, p.SampleType[1].Type + "/" + p.SampleType[1].Unit}; got[0] != "samples/count" || got[1] != "cpu-clock/nanoseconds" {
		t.Errorf("sample types %v", got)
	}
	comments := strings.Join(p.Comments, "\n")
	for _, want := range []string{
		"event: cpu-clock, because cycles is not supported here: " + pmu.ReasonNoHardwarePMU,
		"command: vpmu record -o " + out + " -- sh -c exit 3",
		"sampling: about 4000 samples per second",
		"call stacks: none",
		"throttled: the kernel paused sampling 1 times",
	} {
		if !strings.Contains(comments, want) {
			t.Errorf("comments lack %q:\n%s", want, comments)
		}
	}
	funcs := profileFunctions(p)
	if got := funcs["github.com/vpmu/vpmu/internal/cli.recordTestMarker"]; got != 3*250000 {
		t.Errorf("recordTestMarker has %d ns, want 3 samples of 250000; functions %v", got, funcs)
	}
	for _, s := range p.Sample {
		if s.Location[0].Line[0].Function.Name == "github.com/vpmu/vpmu/internal/cli.recordTestMarker" {
			if c := s.Label["comm"]; len(c) != 1 || c[0] != "marker" {
				t.Errorf("comm label %v, want marker", c)
			}
			if l := s.Location[0].Line[0]; l.Line == 0 || !strings.HasSuffix(l.Function.Filename, "record_run_test.go") {
				t.Errorf("marker sample at %s:%d, want a line of record_run_test.go", l.Function.Filename, l.Line)
			}
		}
	}
	if p.DurationNanos <= 0 {
		t.Errorf("duration %d", p.DurationNanos)
	}
}

func TestRecordDefaultEventSupported(t *testing.T) {
	h := newRecordHarness(t)
	delete(h.smp.unsupported, "cycles")
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	if code := h.run("record", "-c", "100000", "-o", out, "true"); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, h.stderr.String())
	}
	if strings.Contains(h.stderr.String(), "falling back") {
		t.Errorf("fell back although cycles opened:\n%s", h.stderr.String())
	}
	p := h.profile(out)
	if p.SampleType[1].Type != "cycles" || p.SampleType[1].Unit != "count" || p.Period != 100000 {
		t.Errorf("sample type %v, period %d", p.SampleType[1], p.Period)
	}
	if !strings.Contains(h.stderr.String(), "0 samples of cycles (every 100000 events)") {
		t.Errorf("summary:\n%s", h.stderr.String())
	}
}

// TestRecordNamedEventNotSupported: an event the user named is never
// replaced; the command does not run.
func TestRecordNamedEventNotSupported(t *testing.T) {
	h := newRecordHarness(t)
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	for _, args := range [][]string{
		{"record", "-e", "cycles", "-o", out, "--", "true"},
		{"record", "-e", "syscalls", "-o", out, "--", "true"},
	} {
		code := h.run(args...)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1", args, code)
		}
		ev := args[2]
		reason := pmu.ReasonNoHardwarePMU
		if ev == "syscalls" {
			reason = pmu.ReasonVirtualOnly
		}
		want := `vpmu record: event "` + ev + `" not supported: ` + reason
		if !strings.HasPrefix(h.stderr.String(), want) || strings.Contains(h.stderr.String(), "falling back") {
			t.Errorf("%q: stderr:\n%s\nwant %q", args, h.stderr.String(), want)
		}
	}
	if _, ok := h.files[out]; ok {
		t.Error("a profile was written")
	}
	if log := strings.Join(h.src.history(), "\n"); strings.Count(log, "abort") != 2 || strings.Contains(log, "release") {
		t.Errorf("the held command was released instead of aborted:\n%s", log)
	}
}

// TestRecordUserModeFallback: where kernel mode may not be sampled
// (perf_event_paranoid 2 without CAP_PERFMON), events written without
// modifiers are sampled in user mode only, with a note, as perf does.
func TestRecordUserModeFallback(t *testing.T) {
	const paranoid = "perf_event_paranoid is 2: only user mode may be counted"
	h := newRecordHarness(t)
	h.cat.groups["task-clock:k"] = pmu.Spec{Groups: []pmu.Group{{Events: []pmu.Event{{Name: "task-clock", Modifiers: "k", Exclude: pmu.ExcludeUser, Kind: pmu.KindSoftware, Type: 1, Config: 1}}}}}
	tests := []struct {
		args               []string
		code               int
		event, note, note2 string
	}{
		// cycles is missing, cpu-clock needs user mode.
		{[]string{"true"}, 0, "cpu-clock:u",
			"vpmu record: The cycles event is not supported, falling back to cpu-clock (" + pmu.ReasonNoHardwarePMU + ")",
			"vpmu record: kernel mode may not be sampled here, sampling cpu-clock in user mode only (" + paranoid + ")"},
		// A named event keeps its name.
		{[]string{"-e", "task-clock", "true"}, 0, "task-clock:u",
			"vpmu record: kernel mode may not be sampled here, sampling task-clock in user mode only (" + paranoid + ")", ""},
		// An event with modifiers is taken as written.
		{[]string{"-e", "task-clock:k", "true"}, 1, "",
			`vpmu record: event "task-clock:k" not supported: ` + paranoid, ""},
	}
	for _, tt := range tests {
		h.smp.denyKernel = paranoid
		out := filepath.Join(t.TempDir(), "out.pb.gz")
		code := h.run(append([]string{"record", "-o", out}, tt.args...)...)
		stderr := h.stderr.String()
		if code != tt.code || !strings.Contains(stderr, tt.note) || !strings.Contains(stderr, tt.note2) {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit %d and %q, %q", tt.args, code, stderr, tt.code, tt.note, tt.note2)
			continue
		}
		if tt.event == "" {
			continue
		}
		p := h.profile(out)
		if p.SampleType[1].Type != tt.event {
			t.Errorf("%q: sample type %q, want %q", tt.args, p.SampleType[1].Type, tt.event)
		}
		if !strings.Contains(strings.Join(p.Comments, "\n"), "user mode only, because kernel mode may not be sampled here: "+paranoid) {
			t.Errorf("%q: comments %q", tt.args, p.Comments)
		}
	}
}

// TestRecordBuildIDRetry: kernels before 5.12 refuse build IDs in MMAP2;
// the sampler is opened without them.
func TestRecordBuildIDRetry(t *testing.T) {
	h := newRecordHarness(t)
	h.smp.refuseBuildID = true
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	if code := h.run("record", "-e", "task-clock", "-o", out, "true"); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, h.stderr.String())
	}
	if len(h.smp.samplers) != 1 || h.smp.samplers[0].cfg.BuildID {
		t.Errorf("samplers %d, log:\n%s", len(h.smp.samplers), h.smp.history())
	}
}

func TestRecordExitStatus(t *testing.T) {
	h := newRecordHarness(t)
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	if code, want := h.run("record", "-o", out, "--", "sh", "-c", "kill -USR1 $$"), 128+int(syscall.SIGUSR1); code != want {
		t.Errorf("killed by SIGUSR1: exit %d, want %d", code, want)
	}
	if _, ok := h.files[out]; !ok {
		t.Error("no profile for a killed command")
	}
	if code := h.run("record", "-o", out, "--", "/nonexistent/prog"); code != 1 || !strings.Contains(h.stderr.String(), "/nonexistent/prog") {
		t.Errorf("missing program: exit %d, stderr:\n%s", code, h.stderr.String())
	}
}

func TestRecordOutputErrors(t *testing.T) {
	h := newRecordHarness(t)
	code := h.run("record", "-o", "/nonexistent/dir/out.pb.gz", "true")
	if code != 1 || !strings.Contains(h.stderr.String(), "vpmu record: -o: open /nonexistent/dir/out.pb.gz") {
		t.Errorf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	if len(h.smp.samplers) != 0 {
		t.Error("samplers opened although the output cannot be written")
	}

	// The default output is vpmu.pb.gz in the current directory.
	t.Chdir(t.TempDir())
	if code := h.run("record", "true"); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, h.stderr.String())
	}
	h.profile("vpmu.pb.gz")
	if _, err := os.Stat("vpmu.pb.gz"); !os.IsNotExist(err) {
		t.Errorf("the output probe left a file behind: %v", err)
	}
}

// TestRecordStreamError: a sampler that fails ends the recording with an
// error, and the profile still holds what was read before.
func TestRecordStreamError(t *testing.T) {
	h := newRecordHarness(t)
	h.smp.records = func(pmu.Target) []perfevent.Record { return markerRecords(t) }
	h.smp.end = errors.New("poll perf fds: boom")
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	code := h.run("record", "-o", out, "true")
	if code != 1 || !strings.Contains(h.stderr.String(), "recording stopped early ("+out+" has the samples read before): poll perf fds: boom") {
		t.Errorf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	if got := profileFunctions(h.profile(out))["github.com/vpmu/vpmu/internal/cli.recordTestMarker"]; got == 0 {
		t.Error("the samples read before the error are not in the profile")
	}
}

// TestRecordAttach attaches to this test process: one sampler per
// thread, with inherit and without enable-on-exec, until SIGINT, which
// stops sampling and writes the profile.
func TestRecordAttach(t *testing.T) {
	h := newRecordHarness(t)
	pid := os.Getpid()
	tids, err := listThreads(pid)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{}, 64)
	h.smp.records = func(tg pmu.Target) []perfevent.Record {
		opened <- struct{}{}
		if tg.PID != pid {
			return nil
		}
		return []perfevent.Record{&perfevent.SampleRecord{IP: 0x1234, PID: uint32(pid), TID: uint32(pid), Time: 5, Period: 250000}}
	}
	go func() {
		// Wait for the samplers, then for the command to listen.
		<-opened
		for !h.signal(os.Interrupt) {
			time.Sleep(time.Millisecond)
		}
	}()
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	code := h.run("record", "-p", strconv.Itoa(pid), "-o", out)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, h.stderr.String())
	}
	if len(h.smp.samplers) < 1 || len(h.smp.samplers) > len(tids)+8 {
		t.Errorf("%d samplers for %d threads", len(h.smp.samplers), len(tids))
	}
	for _, s := range h.smp.samplers {
		if !s.target.Inherit || s.target.EnableOnExec || s.target.CPU != -1 || !s.disabled {
			t.Errorf("sampler target %+v disabled %v", s.target, s.disabled)
		}
		if want := (&recordOptions{}).ringPages(len(tids)); s.cfg.DataPages != want {
			t.Errorf("ring %d pages, want %d", s.cfg.DataPages, want)
		}
	}
	p := h.profile(out)
	if len(p.Sample) != 1 || p.Sample[0].NumLabel["pid"][0] != int64(pid) {
		t.Errorf("samples %v", p.Sample)
	}
	if c := p.Sample[0].Label["comm"]; len(c) != 1 || c[0] == "" {
		t.Errorf("comm label %v: the attached thread's name from /proc is missing", c)
	}
	if !strings.Contains(strings.Join(p.Comments, "\n"), "attached to process "+strconv.Itoa(pid)) {
		t.Errorf("comments %q", p.Comments)
	}
}

func TestRecordAttachErrors(t *testing.T) {
	h := newRecordHarness(t)
	h.alive = func(int) bool { return false }
	if code := h.run("record", "-p", "12345"); code != 1 || !strings.Contains(h.stderr.String(), "vpmu record: -p 12345: no such process") {
		t.Errorf("dead process: exit %d, stderr:\n%s", code, h.stderr.String())
	}

	// Threads that exit between the listing and the open are skipped;
	// if all do, that is an error.
	h = newRecordHarness(t)
	pid := os.Getpid()
	tids, err := listThreads(pid)
	if err != nil {
		t.Fatal(err)
	}
	h.smp.tidErr = map[int]error{}
	for _, tid := range tids {
		h.smp.tidErr[tid] = &perfevent.OpenError{PID: tid, CPU: -1, Reason: "thread exited", Err: os.NewSyscallError("perf_event_open", syscall.ESRCH)}
	}
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	if code := h.run("record", "--pid", strconv.Itoa(pid), "-o", out); code != 1 || !strings.Contains(h.stderr.String(), "--pid "+strconv.Itoa(pid)+": every thread exited") {
		t.Errorf("all threads gone: exit %d, stderr:\n%s", code, h.stderr.String())
	}

	// Any other error closes the samplers already open.
	h = newRecordHarness(t)
	h.smp.tidErr = map[int]error{tids[len(tids)-1]: errors.New("too many open files")}
	if code := h.run("record", "-p", strconv.Itoa(pid), "-o", out); code != 1 || !strings.Contains(h.stderr.String(), "too many open files") {
		t.Errorf("open error: exit %d, stderr:\n%s", code, h.stderr.String())
	}
}
