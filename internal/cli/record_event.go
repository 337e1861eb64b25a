package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// maxSampleRatePath is the kernel's limit on samples per second per
// event (lowered by the kernel itself when sampling interrupts take too
// long).
const maxSampleRatePath = "/proc/sys/kernel/perf_event_max_sample_rate"

// Ring buffer sizes in pages: the default for a launched command, and the
// bounds of the default for -p, which divides recordRingBudget among the
// threads (each thread of an attached process has one ring per CPU).
const (
	defaultRingPages = 64
	minAttachPages   = 8
	recordRingBudget = 128
)

// event resolves -e, or the default event, to the one event to sample.
// Each -e is parsed on its own so that an error points into the flag the
// user wrote.
func (o *recordOptions) event(c Catalog) (pmu.Event, error) {
	return o.oneEvent(defaultRecordEvent, c.ParseSpec)
}

// oneEvent parses each -e (or def without one) with parse and checks that
// they name exactly one event.
func (o *recordOptions) oneEvent(def string, parse func(string) (pmu.Spec, error)) (pmu.Event, error) {
	texts := o.events
	if len(texts) == 0 {
		texts = stringList{def}
	}
	var evs []pmu.Event
	for _, t := range texts {
		s, err := parse(t)
		if err != nil {
			return pmu.Event{}, err
		}
		evs = append(evs, s.Events()...)
	}
	if len(evs) != 1 {
		names := make([]string, len(evs))
		for i, e := range evs {
			names[i] = e.String()
		}
		return pmu.Event{}, usagef("%s: vpmu record samples one event per run, got %d (%s): record each event in its own run",
			o.flag("e"), len(evs), strings.Join(names, ", "))
	}
	return evs[0], nil
}

// sampleRate decides the sampling period or frequency from the flags and
// the kernel's maximum rate (0 when unknown). Exactly one of period and
// freq is non-zero. note, when set, tells the user the default was
// lowered.
func (o *recordOptions) sampleRate(maxRate uint64) (period, freq uint64, note string, err error) {
	switch {
	case o.period > 0:
		return o.period, 0, "", nil
	case o.freqMax:
		if maxRate == 0 {
			return 0, 0, "", fmt.Errorf("%s max: the kernel's maximum sample rate is unknown (%s is unreadable)", o.flag("F"), maxSampleRatePath)
		}
		return 0, maxRate, "", nil
	case o.freq > 0:
		if maxRate > 0 && o.freq > maxRate {
			return 0, 0, "", fmt.Errorf("%s %d: above the kernel's maximum of %d samples per second (kernel.perf_event_max_sample_rate): use a lower %s, or raise the limit",
				o.flag("F"), o.freq, maxRate, o.flag("F"))
		}
		return 0, o.freq, "", nil
	}
	if maxRate > 0 && maxRate < defaultRecordFreq {
		return 0, maxRate, fmt.Sprintf("sampling at %d Hz, the kernel's maximum (kernel.perf_event_max_sample_rate), instead of %d Hz", maxRate, defaultRecordFreq), nil
	}
	return 0, defaultRecordFreq, "", nil
}

// readMaxSampleRate returns kernel.perf_event_max_sample_rate, or 0 when
// it cannot be read.
func readMaxSampleRate() uint64 {
	b, err := os.ReadFile(maxSampleRatePath)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// ringPages is the ring size per CPU: -m, or the default for a recording
// of threads samplers (1 for a launched command, one per thread with -p).
func (o *recordOptions) ringPages(threads int) int {
	if o.mmapPages > 0 {
		return o.mmapPages
	}
	if threads <= 1 {
		return defaultRingPages
	}
	p := defaultRingPages
	for p > minAttachPages && p*threads > recordRingBudget {
		p /= 2
	}
	return p
}

// sampleConfig is the sampler configuration: the sample fields the
// profiler needs (the call chain only with -g), the side-band records
// that name and place the code (MMAP2 with build IDs, COMM, FORK and
// EXIT), and a wakeup once a quarter of the ring is full, so that the
// reader does not wake for every sample.
func (o *recordOptions) sampleConfig(period, freq uint64, pages int) perfevent.SampleConfig {
	st := perfevent.SampleIP | perfevent.SampleTID | perfevent.SampleTime | perfevent.SampleCPU | perfevent.SamplePeriod
	if o.callGraph {
		st |= perfevent.SampleCallchain
	}
	wake := uint64(pages) * uint64(os.Getpagesize()) / 4
	wake = min(max(wake, 1), 1<<30)
	return perfevent.SampleConfig{
		Period:      period,
		Freq:        freq,
		SampleType:  st,
		DataPages:   pages,
		WakeupBytes: uint32(wake),
		Mmap:        true,
		BuildID:     true,
		Comm:        true,
		Task:        true,
	}
}

// openFunc opens the samplers of one recording (one for a launched
// command, one per thread with -p) for group g.
type openFunc func(g pmu.Group, cfg perfevent.SampleConfig) ([]Sampler, error)

// openEvent opens r.event with open, adjusting it the way perf does when
// the kernel refuses it:
//
//   - an event written without modifiers that may not count kernel mode
//     here (perf_event_paranoid, no CAP_PERFMON) is sampled in user mode
//     only, as EVENT:u;
//   - the default event (cycles, when -e is not given) that this machine
//     cannot count is replaced by cpu-clock. An event the user named is
//     never replaced.
//
// Each adjustment is printed on stderr and written into the profile's
// comments. On success r.event, r.cfg and r.samplers are set.
func (r *recorder) openEvent(cfg perfevent.SampleConfig, open openFunc) error {
	ev := r.event
	var userOnly, fellBack bool
	for {
		ss, used, err := openSamplers(ev, cfg, open)
		if err == nil {
			r.event, r.cfg, r.samplers = ev, used, ss
			return nil
		}
		var ns *pmu.NotSupportedError
		if !errors.As(err, &ns) {
			return err
		}
		reason := ns.Reason
		if reason == "" {
			reason = ns.Error()
		}
		switch {
		case !userOnly && isPermission(err) && ev.Modifiers == "" && ev.Exclude&pmu.ExcludeKernel == 0:
			userOnly = true
			ev = userMode(ev)
			fmt.Fprintf(r.env.Stderr, "vpmu record: kernel mode may not be sampled here, sampling %s in user mode only (%s)\n", ev.Name, reason)
			r.notes = append(r.notes, fmt.Sprintf("event: %s, user mode only, because kernel mode may not be sampled here: %s", ev, reason))
		case !fellBack && !r.opts.namedEvent && !isPermission(err):
			fellBack = true
			fb, ferr := r.fallbackEvent()
			if ferr != nil {
				return fmt.Errorf("%w; and the fallback: %w", err, ferr)
			}
			if userOnly {
				fb = userMode(fb)
			}
			fmt.Fprintf(r.env.Stderr, "vpmu record: The %s event is not supported, falling back to %s (%s)\n", ev.Name, fb.Name, reason)
			r.notes = append(r.notes, fmt.Sprintf("event: %s, because %s is not supported here: %s", fb, ev, reason))
			ev = fb
		default:
			return err
		}
	}
}

// isPermission reports whether the kernel refused an open for lack of
// privilege.
func isPermission(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// userMode returns ev restricted to user mode, written EVENT:u.
func userMode(ev pmu.Event) pmu.Event {
	ev.Exclude |= pmu.ExcludeKernel | pmu.ExcludeHV
	ev.Modifiers = "u"
	return ev
}

// fallbackEvent resolves cpu-clock in the catalog.
func (r *recorder) fallbackEvent() (pmu.Event, error) {
	s, err := r.env.Catalog.ParseSpec(fallbackRecordEvent)
	if err != nil {
		return pmu.Event{}, err
	}
	evs := s.Events()
	if len(evs) != 1 {
		return pmu.Event{}, fmt.Errorf("catalog resolved %s to %d events", fallbackRecordEvent, len(evs))
	}
	return evs[0], nil
}

// openSamplers opens ev. Kernels before Linux 5.12 refuse build IDs in
// MMAP2 records; the open is then retried without them (symbols are still
// read from the mapped files, just not checked against the build that
// ran). It returns the configuration that opened.
func openSamplers(ev pmu.Event, cfg perfevent.SampleConfig, open openFunc) ([]Sampler, perfevent.SampleConfig, error) {
	if ev.Kind == pmu.KindVirtual {
		return nil, cfg, &pmu.NotSupportedError{Event: ev.String(), Reason: pmu.ReasonVirtualOnly}
	}
	g := pmu.Group{Events: []pmu.Event{ev}}
	ss, err := open(g, cfg)
	if err != nil && cfg.BuildID {
		cfg.BuildID = false
		if ss2, err2 := open(g, cfg); err2 == nil {
			return ss2, cfg, nil
		}
		cfg.BuildID = true
	}
	return ss, cfg, err
}
