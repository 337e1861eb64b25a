package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/profiler"
	"github.com/vpmu/vpmu/profiler/symbolize"
)

// kallsymsPath names kernel addresses in profiles.
const kallsymsPath = "/proc/kallsyms"

// maxPrintedWarnings bounds the symbolization warnings printed on
// stderr; the profile's comments keep them all (up to the builder's own
// bound).
const maxPrintedWarnings = 3

// builder returns the profile builder of the run: the sampled event and
// its period (0 in frequency mode: the profile's period is then the
// samples' mean), the command line and notes as comments, symbols from
// the mapped files and /proc/kallsyms.
//
// When the event counts kernel mode, the kernel's symbol table is read
// on a goroutine while the target runs (it takes about 0.1 s, mostly
// the kernel formatting /proc/kallsyms), instead of after it; finish
// waits for it.
func (r *recorder) builder(start time.Time) (*profiler.Builder, error) {
	sym := symbolize.New(symbolize.Options{KallsymsPath: kallsymsPath})
	b, err := profiler.NewBuilder(profiler.Options{
		Event:       r.event.String(),
		Period:      r.cfg.Period,
		Start:       start,
		CommandLine: append([]string{"vpmu", "record"}, r.opts.args...),
		Comments:    r.notes,
		Symbolizer:  sym,
		Processes:   r.procs,
	})
	if err != nil {
		return nil, err
	}
	r.warm = make(chan struct{})
	if r.event.Exclude&pmu.ExcludeKernel != 0 {
		close(r.warm)
		return b, nil
	}
	go func() {
		defer close(r.warm)
		sym.Kallsyms() // an error is the builder's to report
	}()
	return b, nil
}

// finish writes the profile to the -o file, whatever recErr says (the
// profile holds what was recorded before the error), prints the summary,
// and returns the first error: recording's, then writing's.
func (r *recorder) finish(b *profiler.Builder, st profiler.RecordStats, stream *profiler.PerfStream, elapsed time.Duration, recErr error) error {
	ss := stream.Stats()
	<-r.warm
	size, err := r.write(b, ss, elapsed)
	r.summary(b, st, ss, size)
	if recErr != nil {
		return fmt.Errorf("recording stopped early (%s has the samples read before): %w", r.opts.output, recErr)
	}
	return err
}

// write builds the profile and writes it to the -o file; it returns the
// file's size.
func (r *recorder) write(b *profiler.Builder, ss profiler.PerfStreamStats, elapsed time.Duration) (int64, error) {
	p, err := b.Profile()
	if err != nil {
		return 0, fmt.Errorf("build the profile: %w", err)
	}
	p.DurationNanos = elapsed.Nanoseconds()
	if ss.Throttles > 0 {
		p.Comments = append(p.Comments, fmt.Sprintf("throttled: the kernel paused sampling %d times (kernel.perf_event_max_sample_rate)", ss.Throttles))
	}
	if ss.CorruptRings > 0 {
		p.Comments = append(p.Comments, fmt.Sprintf("corrupt ring buffer: records skipped %d times", ss.CorruptRings))
	}
	return writeProfile(r.env, r.opts.output, r.opts.flag("o"), p)
}

// writeProfile writes p to the file path, which the flag named flag gave,
// and returns the file's size.
func writeProfile(env *Env, path, flag string, p *profile.Profile) (int64, error) {
	out, err := env.Create(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", flag, err)
	}
	cw := &countWriter{w: out}
	err = p.Write(cw)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return cw.n, fmt.Errorf("write %s: %w", path, err)
	}
	return cw.n, nil
}

// printWarnings prints the profile builder's first warnings; the
// profile's comments hold them all.
func printWarnings(w io.Writer, b *profiler.Builder) {
	for i, warn := range b.Warnings() {
		if i == maxPrintedWarnings {
			fmt.Fprintf(w, "vpmu record: ... and %d more warnings (in the profile's comments)\n", len(b.Warnings())-i)
			break
		}
		fmt.Fprintf(w, "vpmu record: warning: %s\n", warn)
	}
}

// summary prints what was recorded, in the spirit of perf record's last
// lines, and what to run next.
func (r *recorder) summary(b *profiler.Builder, st profiler.RecordStats, ss profiler.PerfStreamStats, size int64) {
	w := r.env.Stderr
	printWarnings(w, b)
	if st.Lost > 0 {
		fmt.Fprintf(w, "vpmu record: %d samples lost: the ring buffer was full; use a larger %s or a lower %s\n", st.Lost, r.opts.flag("m"), r.opts.flag("F"))
	}
	if ss.Throttles > 0 {
		fmt.Fprintf(w, "vpmu record: the kernel throttled sampling %d times (kernel.perf_event_max_sample_rate); use a lower %s\n", ss.Throttles, r.opts.flag("F"))
	}
	if ss.CorruptRings > 0 {
		fmt.Fprintf(w, "vpmu record: %d corrupt ring buffer reads; records were skipped\n", ss.CorruptRings)
	}
	rate := fmt.Sprintf("every %d %s", r.cfg.Period, unitWord(r.event))
	if r.cfg.Freq > 0 {
		rate = fmt.Sprintf("%d Hz", r.cfg.Freq)
	}
	fmt.Fprintf(w, "[ vpmu record: %d samples of %s (%s), %d lost; wrote %s (%s) ]\n", st.Samples, r.event, rate, st.Lost, r.opts.output, byteSize(size))
	fmt.Fprintf(w, "[ vpmu record: view with: go tool pprof -top %s ]\n", r.opts.output)
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// byteSize formats n bytes for people.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
