package cli

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/pmu/perfevent"
)

func TestParseRecordFlags(t *testing.T) {
	type want struct {
		period, freq     uint64
		freqMax, cg      bool
		pages, pid       int
		output           string
		command          []string
		events           []string
		namedEvent       bool
		errSub, errUsage string // errUsage: the error must be a usage error
	}
	tests := []struct {
		args []string
		want want
	}{
		{[]string{"--", "prog", "-x"}, want{output: "vpmu.pb.gz", command: []string{"prog", "-x"}}},
		{[]string{"prog", "-c", "5"}, want{output: "vpmu.pb.gz", command: []string{"prog", "-c", "5"}}},
		{[]string{"-c", "100000", "-g", "-o", "x.pb.gz", "prog"}, want{period: 100000, cg: true, output: "x.pb.gz", command: []string{"prog"}}},
		{[]string{"-c0x100", "prog"}, want{period: 256, output: "vpmu.pb.gz", command: []string{"prog"}}},
		{[]string{"-F", "99", "prog"}, want{freq: 99, output: "vpmu.pb.gz", command: []string{"prog"}}},
		{[]string{"-F99", "--event=cpu-clock", "prog"}, want{freq: 99, output: "vpmu.pb.gz", command: []string{"prog"}, events: []string{"cpu-clock"}, namedEvent: true}},
		{[]string{"--freq", "max", "prog"}, want{freqMax: true, output: "vpmu.pb.gz", command: []string{"prog"}}},
		{[]string{"-m", "16", "-p", "42"}, want{pages: 16, pid: 42, output: "vpmu.pb.gz"}},
		{[]string{"--pid=42", "--output", "o"}, want{pid: 42, output: "o"}},
		{[]string{"-e", "a", "-e", "b", "prog"}, want{output: "vpmu.pb.gz", command: []string{"prog"}, events: []string{"a", "b"}, namedEvent: true}},

		{[]string{"-c", "1", "-F", "1", "prog"}, want{errUsage: "-c and -F cannot be used together"}},
		{[]string{"--count=1", "--freq=1", "prog"}, want{errUsage: "--count and --freq cannot be used together"}},
		{[]string{"-c", "0", "prog"}, want{errUsage: `-c: bad period "0"`}},
		{[]string{"-c", "lots", "prog"}, want{errUsage: `-c: bad period "lots"`}},
		{[]string{"-F", "0", "prog"}, want{errUsage: `-F: bad frequency "0"`}},
		{[]string{"--freq", "fast", "prog"}, want{errUsage: `--freq: bad frequency "fast"`}},
		{[]string{"-m", "3", "prog"}, want{errUsage: `-m: bad ring size "3"`}},
		{[]string{"-m", "0", "prog"}, want{errUsage: `-m: bad ring size "0"`}},
		{[]string{"-p", "0"}, want{errUsage: `-p: bad process id "0"`}},
		{[]string{"--pid", "x"}, want{errUsage: `--pid: bad process id "x"`}},
		{[]string{"-p", "1", "prog"}, want{errUsage: `-p and a command cannot be used together (got command "prog")`}},
		{[]string{"-g"}, want{errUsage: "nothing to record"}},
		{[]string{"-o", "", "prog"}, want{errUsage: "-o: empty file name"}},
		{[]string{"-z", "prog"}, want{errUsage: "unknown flag -z"}},
		{[]string{"-c"}, want{errUsage: "flag needs an argument: -c"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseRecordFlags(tt.args)
			w := tt.want
			if w.errSub != "" || w.errUsage != "" {
				if err == nil {
					t.Fatalf("no error, want %q", w.errSub+w.errUsage)
				}
				if !strings.Contains(err.Error(), w.errSub+w.errUsage) {
					t.Errorf("error %q, want it to contain %q", err, w.errSub+w.errUsage)
				}
				var ue *usageError
				if isUsage := errors.As(err, &ue); isUsage != (w.errUsage != "") {
					t.Errorf("usage error: %v, want %v", isUsage, w.errUsage != "")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{period: o.period, freq: o.freq, freqMax: o.freqMax, cg: o.callGraph, pages: o.mmapPages, pid: o.pid,
				output: o.output, command: o.command, events: o.events, namedEvent: o.namedEvent}
			if len(got.command) == 0 {
				got.command = nil
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got  %+v\nwant %+v", got, w)
			}
		})
	}
	if _, err := parseRecordFlags([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestRecordSampleRate(t *testing.T) {
	tests := []struct {
		args         []string
		max          uint64
		period, freq uint64
		note, err    string
	}{
		{args: nil, max: 100000, freq: 4000},
		{args: nil, max: 0, freq: 4000},
		{args: nil, max: 1000, freq: 1000, note: "sampling at 1000 Hz, the kernel's maximum (kernel.perf_event_max_sample_rate), instead of 4000 Hz"},
		{args: []string{"-F", "1000"}, max: 1000, freq: 1000},
		{args: []string{"-F", "1001"}, max: 1000, err: "-F 1001: above the kernel's maximum of 1000 samples per second"},
		{args: []string{"-F", "50000"}, max: 0, freq: 50000},
		{args: []string{"-F", "max"}, max: 25000, freq: 25000},
		{args: []string{"-F", "max"}, max: 0, err: "-F max: the kernel's maximum sample rate is unknown"},
		{args: []string{"-c", "7"}, max: 1, period: 7},
	}
	for _, tt := range tests {
		o, err := parseRecordFlags(append(tt.args, "prog"))
		if err != nil {
			t.Fatal(err)
		}
		period, freq, note, err := o.sampleRate(tt.max)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q max %d: error %v, want %q", tt.args, tt.max, err, tt.err)
			}
			continue
		}
		if err != nil || period != tt.period || freq != tt.freq || note != tt.note {
			t.Errorf("%q max %d: period %d freq %d note %q err %v; want %d %d %q", tt.args, tt.max, period, freq, note, err, tt.period, tt.freq, tt.note)
		}
	}
}

func TestRecordRingPages(t *testing.T) {
	tests := []struct {
		args    []string
		threads int
		want    int
	}{
		{nil, 1, 64},
		{nil, 2, 64},
		{nil, 3, 32},
		{nil, 4, 32},
		{nil, 5, 16},
		{nil, 16, 8},
		{nil, 1000, 8},
		{[]string{"-m", "512"}, 1000, 512},
		{[]string{"-m", "1"}, 1, 1},
	}
	for _, tt := range tests {
		o, err := parseRecordFlags(append(tt.args, "prog"))
		if err != nil {
			t.Fatal(err)
		}
		if got := o.ringPages(tt.threads); got != tt.want {
			t.Errorf("%q with %d threads: %d pages, want %d", tt.args, tt.threads, got, tt.want)
		}
	}
}

func TestRecordSampleConfig(t *testing.T) {
	base := perfevent.SampleIP | perfevent.SampleTID | perfevent.SampleTime | perfevent.SampleCPU | perfevent.SamplePeriod
	for _, g := range []bool{false, true} {
		args := []string{"prog"}
		want := base
		if g {
			args = []string{"-g", "prog"}
			want |= perfevent.SampleCallchain
		}
		o, err := parseRecordFlags(args)
		if err != nil {
			t.Fatal(err)
		}
		cfg := o.sampleConfig(0, 4000, 64)
		if cfg.SampleType != want {
			t.Errorf("-g %v: sample type %#x, want %#x", g, cfg.SampleType, want)
		}
		if cfg.Freq != 4000 || cfg.Period != 0 || cfg.DataPages != 64 || !cfg.Mmap || !cfg.BuildID || !cfg.Comm || !cfg.Task {
			t.Errorf("config %+v", cfg)
		}
		if cfg.WakeupBytes == 0 || cfg.WakeupBytes > 64*4096/2 || cfg.WakeupEvents != 0 {
			t.Errorf("wakeup bytes %d events %d: want a fraction of the ring", cfg.WakeupBytes, cfg.WakeupEvents)
		}
	}
}

func TestRecordEventSelection(t *testing.T) {
	h := newRecordHarness(t)
	tests := []struct {
		args []string
		want string // event, or error substring
		err  bool
	}{
		{[]string{"prog"}, "cycles", false},
		{[]string{"-e", "task-clock", "prog"}, "task-clock", false},
		{[]string{"-e", "cycles,instructions", "prog"}, "-e: vpmu record samples one event per run, got 2 (cycles, instructions)", true},
		{[]string{"--event", "task-clock", "--event", "page-faults", "prog"}, "--event: vpmu record samples one event per run, got 2 (task-clock, page-faults)", true},
		{[]string{"-e", "bogus", "prog"}, "unknown event", true},
	}
	for _, tt := range tests {
		o, err := parseRecordFlags(tt.args)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := o.event(h.cat)
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q: %v, want error %q", tt.args, err, tt.want)
			}
			continue
		}
		if err != nil || ev.String() != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.args, ev, err, tt.want)
		}
	}
}

// TestRecordHelp checks -h and vpmu help record.
func TestRecordHelp(t *testing.T) {
	h := newRecordHarness(t)
	for _, args := range [][]string{{"record", "-h"}, {"record", "--help"}, {"help", "record"}} {
		if code := h.run(args...); code != 0 || !strings.HasPrefix(h.stdout.String(), "Usage: vpmu record") {
			t.Errorf("%q: exit %d, stdout %q", args, code, h.stdout.String())
		}
	}
	if code := h.run("help"); code != 0 || !strings.Contains(h.stdout.String(), "record   sample a command") {
		t.Errorf("vpmu help does not list record:\n%s", h.stdout.String())
	}
}
