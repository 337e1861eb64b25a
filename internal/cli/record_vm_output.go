package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/profiler"
)

// rateNote says how often the VM samples.
func (r *vmRecorder) rateNote(u *hypervisor.VPMU) string {
	switch p := u.SamplingPeriod(); {
	case r.freq > 0 && p > 0:
		return fmt.Sprintf("sampling: about %d samples per second of guest time (every %d %s)", r.freq, p, unitWord(r.event))
	case r.freq > 0:
		return fmt.Sprintf("sampling: about %d samples per second of running time, the period adapting as in perf's frequency mode", r.freq)
	}
	return fmt.Sprintf("sampling: every %d %s", r.period, unitWord(r.event))
}

// unitWord names the unit of an event's periods.
func unitWord(ev pmu.Event) string {
	if profiler.EventUnit(ev.String()) == "nanoseconds" {
		return "ns"
	}
	return "events"
}

// write builds the profile, with what the VM's sampling did in its
// comments, and writes it to the -o file; it returns the file's size.
func (r *vmRecorder) write(b *profiler.Builder, ss hypervisor.SamplingStats, elapsed time.Duration) (int64, error) {
	p, err := b.Profile()
	if err != nil {
		return 0, fmt.Errorf("build the profile: %w", err)
	}
	p.DurationNanos = elapsed.Nanoseconds()
	p.Comments = append(p.Comments, fmt.Sprintf("virtual PMIs: %d samples for %d overflows, %d sample clock kicks", ss.Samples, ss.Overflows, ss.Kicks))
	if r.opts.callGraph {
		var ends []string
		for e, n := range ss.StackEnds {
			if n > 0 {
				ends = append(ends, fmt.Sprintf("%s %d", hypervisor.StackEnd(e), n))
			}
		}
		p.Comments = append(p.Comments, fmt.Sprintf("stack walks: %d frames; ended by %s", ss.Frames, strings.Join(ends, ", ")))
	}
	out, err := r.env.Create(r.opts.output)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.opts.flag("o"), err)
	}
	cw := &countWriter{w: out}
	err = p.Write(cw)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return cw.n, fmt.Errorf("write %s: %w", r.opts.output, err)
	}
	return cw.n, nil
}

// summary prints what was recorded, as native vpmu record does.
func (r *vmRecorder) summary(b *profiler.Builder, st profiler.RecordStats, vs profiler.VMStreamStats, size int64) {
	w, o := r.env.Stderr, r.opts
	for i, warn := range b.Warnings() {
		if i == maxPrintedWarnings {
			fmt.Fprintf(w, "vpmu record: ... and %d more warnings (in the profile's comments)\n", len(b.Warnings())-i)
			break
		}
		fmt.Fprintf(w, "vpmu record: warning: %s\n", warn)
	}
	if vs.Lost > 0 {
		fmt.Fprintf(w, "vpmu record: %d samples lost: the profile builder fell behind; use a lower %s\n", vs.Lost, o.flag("F"))
	}
	rate := fmt.Sprintf("every %d %s", r.period, unitWord(r.event))
	if r.freq > 0 {
		rate = fmt.Sprintf("%d Hz", r.freq)
	}
	fmt.Fprintf(w, "[ vpmu record: %d samples of %s (%s) in the VM, %d lost; wrote %s (%s) ]\n",
		st.Samples, r.event, rate, vs.Lost, o.output, byteSize(size))
	fmt.Fprintf(w, "[ vpmu record: view with: go tool pprof -top %s ]\n", o.output)
}

// recordLogHandler prints the VMM's warnings (sandbox refusals,
// unimplemented system calls) as "vpmu record: ..." lines.
type recordLogHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	attrs []slog.Attr
}

// newRecordLogger returns the VMM's logger for vpmu record --vm.
func newRecordLogger(w io.Writer) *slog.Logger {
	return slog.New(&recordLogHandler{mu: &sync.Mutex{}, w: w})
}

func (h *recordLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *recordLogHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "guest crashed" {
		return nil // reported with the run's error
	}
	var b strings.Builder
	b.WriteString("vpmu record: ")
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *recordLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *recordLogHandler) WithGroup(string) slog.Handler { return h }
