package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// fakeSampling opens fakeSamplers: it refuses the events named in
// unsupported the way perfevent does, and gives each sampler the records
// that records returns for its target.
type fakeSampling struct {
	mu sync.Mutex
	// unsupported maps event names to the reason they cannot be
	// sampled.
	unsupported map[string]string
	// denyKernel, when set, is the reason events that count kernel mode
	// are refused with EACCES (perf_event_paranoid).
	denyKernel string
	// refuseBuildID refuses configurations with BuildID, as kernels
	// before 5.12 do.
	refuseBuildID bool
	// tidErr fails the open on one thread.
	tidErr map[int]error
	// records are each sampler's records; end is what ReadRecord
	// returns after them (nil: block until the context ends or Close).
	records func(t pmu.Target) []perfevent.Record
	end     error

	log      []string
	samplers []*fakeSampler
	open     int
}

func (f *fakeSampling) Open(g pmu.Group, t pmu.Target, cfg perfevent.SampleConfig) (Sampler, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range g.Events {
		if reason, ok := f.unsupported[e.Name]; ok {
			f.log = append(f.log, "refuse "+g.String())
			return nil, &pmu.NotSupportedError{Event: e.String(), Reason: reason, Err: syscall.ENOENT}
		}
	}
	for _, e := range g.Events {
		if f.denyKernel != "" && e.Exclude&pmu.ExcludeKernel == 0 {
			f.log = append(f.log, "deny "+g.String())
			return nil, &pmu.NotSupportedError{Event: e.String(), Reason: f.denyKernel, Err: os.NewSyscallError("perf_event_open", syscall.EACCES)}
		}
	}
	if cfg.BuildID && f.refuseBuildID {
		f.log = append(f.log, "refuse build-id "+g.String())
		return nil, &pmu.NotSupportedError{Event: g.Events[0].String(), Reason: "the kernel refused an attribute", Err: syscall.EINVAL}
	}
	if err := f.tidErr[t.PID]; err != nil {
		return nil, err
	}
	f.log = append(f.log, fmt.Sprintf("open %s pid=%d inherit=%v enable-on-exec=%v", g, t.PID, t.Inherit, t.EnableOnExec))
	s := &fakeSampler{src: f, group: g, target: t, cfg: cfg, end: f.end, closed: make(chan struct{})}
	if f.records != nil {
		s.recs = f.records(t)
	}
	f.samplers = append(f.samplers, s)
	f.open++
	return s, nil
}

func (f *fakeSampling) history() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.log, "\n")
}

// fakeSampler delivers its records, then end or, when end is nil,
// blocks like a ring with nothing in it.
type fakeSampler struct {
	src    *fakeSampling
	group  pmu.Group
	target pmu.Target
	cfg    perfevent.SampleConfig
	end    error

	mu        sync.Mutex
	recs      []perfevent.Record
	disabled  bool
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *fakeSampler) ReadRecord(ctx context.Context) (perfevent.Record, error) {
	s.mu.Lock()
	if len(s.recs) > 0 {
		r := s.recs[0]
		s.recs = s.recs[1:]
		s.mu.Unlock()
		return r, nil
	}
	s.mu.Unlock()
	if s.end != nil {
		return nil, s.end
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, perfevent.ErrClosed
	}
}

func (s *fakeSampler) Enable() error { return nil }

func (s *fakeSampler) Disable() error {
	s.mu.Lock()
	s.disabled = true
	s.mu.Unlock()
	return nil
}

func (s *fakeSampler) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.src.mu.Lock()
		s.src.open--
		s.src.log = append(s.src.log, "close "+s.group.String())
		s.src.mu.Unlock()
	})
	return nil
}

// recordHarness runs vpmu record in-process: the stat harness's fakes
// plus a fake sampling backend.
type recordHarness struct {
	*harness
	smp *fakeSampling
}

func newRecordHarness(t *testing.T) *recordHarness {
	h := &recordHarness{harness: newHarness(t), smp: &fakeSampling{
		unsupported: map[string]string{"cycles": pmu.ReasonNoHardwarePMU, "instructions": pmu.ReasonNoHardwarePMU},
	}}
	h.cat.groups = map[string]pmu.Spec{
		"cpu-clock": {Groups: []pmu.Group{{Events: []pmu.Event{{Name: "cpu-clock", Kind: pmu.KindSoftware, Type: 1, Config: 0}}}}},
	}
	return h
}

// run runs vpmu with args and returns the exit status. It fails the test
// if samplers were left open.
func (h *recordHarness) run(args ...string) int {
	h.t.Helper()
	h.stdout.Reset()
	h.stderr.Reset()
	env := h.env()
	env.OpenSampler = h.smp.Open
	// The fake Launch runs the command at once, and its output is
	// copied into the buffers while vpmu writes its notes.
	var mu sync.Mutex
	env.Stdout = &lockedWriter{mu: &mu, w: env.Stdout}
	env.Stderr = &lockedWriter{mu: &mu, w: env.Stderr}
	code := env.Run(args)
	if h.smp.open != 0 {
		h.t.Errorf("vpmu %q left %d samplers open; log:\n%s", args, h.smp.open, h.smp.history())
	}
	return code
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// profile parses the profile written to name.
func (h *recordHarness) profile(name string) *profile.Profile {
	h.t.Helper()
	b, ok := h.files[name]
	if !ok {
		h.t.Fatalf("no profile written to %s; stderr:\n%s", name, h.stderr.String())
	}
	p, err := profile.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		h.t.Fatalf("parse %s: %v", name, err)
	}
	return p
}

// textMapping returns this test binary's executable mapping, for
// samples that must resolve to real functions.
func textMapping(t *testing.T) (start, limit, offset uint64, file string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[1] != "r-xp" || fields[5] != exe {
			continue
		}
		if _, err := fmt.Sscanf(fields[0]+" "+fields[2], "%x-%x %x", &start, &limit, &offset); err != nil {
			t.Fatalf("maps line %q: %v", line, err)
		}
		return start, limit, offset, exe
	}
	t.Fatalf("no executable mapping of %s in /proc/self/maps", exe)
	return
}
