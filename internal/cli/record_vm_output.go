package cli

import (
	"fmt"
	"strings"
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
	p.Comments = append(p.Comments, samplingComments(ss, r.opts.callGraph)...)
	return writeProfile(r.env, r.opts.output, r.opts.flag("o"), p)
}

// summary prints what was recorded, as native vpmu record does.
func (r *vmRecorder) summary(b *profiler.Builder, st profiler.RecordStats, vs profiler.VMStreamStats, size int64) {
	w, o := r.env.Stderr, r.opts
	printWarnings(w, b)
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

// samplingComments says in a profile's comments what the VM's sampling
// did: virtual PMIs against overflows (late ones share a sample), and
// with stacks how the walks ended.
func samplingComments(ss hypervisor.SamplingStats, stacks bool) []string {
	c := []string{fmt.Sprintf("virtual PMIs: %d samples for %d overflows, %d sample clock kicks", ss.Samples, ss.Overflows, ss.Kicks)}
	if stacks && ss.Samples > 0 {
		var ends []string
		for e, n := range ss.StackEnds {
			if n > 0 {
				ends = append(ends, fmt.Sprintf("%s %d", hypervisor.StackEnd(e), n))
			}
		}
		c = append(c, fmt.Sprintf("stack walks: %d frames; ended by %s", ss.Frames, strings.Join(ends, ", ")))
	}
	return c
}
