package hypervisor

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
	"github.com/vpmu/vpmu/pmu/virt"
)

// Guest-only host counters: a hardware event the host's PMU can count is
// opened with perf_event_open on each VCPU's OS thread with exclude_host
// (pmu.ExcludeHost), so that it counts only while that thread is in
// guest mode. Its count is folded into the VCPU's source (SourceHost) at
// every thread switch and paravirtual read, so the thread level of the
// algebra attributes it to the guest thread that ran. A direct read
// between folds shows the count as of the last fold; the paravirtual
// read is exact.

// pmuHost opens guest-only host counters.
type pmuHost interface {
	// probe returns nil when e (with ExcludeHost set) can be counted on
	// a VCPU thread, or a *pmu.NotSupportedError.
	probe(e pmu.Event) error
	// open opens e on the calling OS thread.
	open(e pmu.Event) (pmuHostCounter, error)
}

// pmuHostCounter is one open guest-only counter.
type pmuHostCounter interface {
	read() (uint64, error)
	close() error
}

// perfPMUHost is pmuHost with Linux perf_event. Probe results are cached.
type perfPMUHost struct {
	src *perfevent.Source

	mu     sync.Mutex
	probes map[string]error
}

func newPMUHost() pmuHost { return &perfPMUHost{src: perfevent.New(), probes: map[string]error{}} }

func (h *perfPMUHost) probe(e pmu.Event) error {
	key := e.String() + fmt.Sprintf("/%d/%d/%#x/%#x", e.Type, e.Exclude, e.Config, e.Config1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err, ok := h.probes[key]; ok {
		return err
	}
	err := h.src.Probe(e)
	h.probes[key] = err
	return err
}

func (h *perfPMUHost) open(e pmu.Event) (pmuHostCounter, error) {
	c, err := h.src.OpenCounter(pmu.Group{Events: []pmu.Event{e}}, pmu.ThisThread)
	if err != nil {
		return nil, err
	}
	return perfPMUCounter{c}, nil
}

type perfPMUCounter struct{ c *perfevent.Counter }

func (p perfPMUCounter) read() (uint64, error) {
	vs, err := p.c.Read()
	if err != nil {
		return 0, err
	}
	return vs[0].Raw, nil
}

func (p perfPMUCounter) close() error { return p.c.Close() }

// pmuHostSource is one host counter on one VCPU: last is its count at the
// last fold.
type pmuHostSource struct {
	c    pmuHostCounter
	last uint64
	err  error // why it could not be opened or read
}

// hostSourceFor returns the source slot of host event e, allocating one
// the first time e is asked for. Called with p.mu held.
func (p *vpmu) hostSourceFor(e pmu.Event) (int, error) {
	for i, h := range p.hostSrcs {
		if h == e {
			return srcHostFirst + i, nil
		}
	}
	if srcHostFirst+len(p.hostSrcs) >= virt.MaxSources {
		return 0, &pmu.NotSupportedError{Event: e.String(),
			Reason: fmt.Sprintf("the VM already counts %d different host events, its maximum", virt.MaxSources-srcHostFirst)}
	}
	p.hostSrcs = append(p.hostSrcs, e)
	p.hostCount.Store(int32(len(p.hostSrcs)))
	return srcHostFirst + len(p.hostSrcs) - 1, nil
}

// syncHost configures and opens on this VCPU the host sources allocated
// since it last looked, then folds every host counter into its source.
// It runs on the VCPU's goroutine, out of guest mode: at thread switches
// and before paravirtual reads.
func (c *vpmuVCPU) syncHost() {
	p := c.p
	p.mu.Lock()
	n := len(p.hostSrcs)
	var add []pmu.Event
	if n > len(c.host) {
		add = append(add, p.hostSrcs[len(c.host):]...)
	}
	p.mu.Unlock()
	for _, e := range add {
		src := srcHostFirst + len(c.host)
		_ = c.v.SetSource(src, virt.SourceHost, 64, 0)
		hs := &pmuHostSource{}
		if p.host != nil {
			hs.c, hs.err = p.host.open(e)
		} else {
			hs.err = errors.New("no host PMU")
		}
		if hs.err != nil {
			p.vm.log.Warn("vpmu: cannot open a host counter on a VCPU thread; it stays at zero there",
				"vcpu", c.id, "event", e.String(), "err", hs.err)
		}
		c.host = append(c.host, hs)
	}
	for i, hs := range c.host {
		if hs.c == nil {
			continue
		}
		v, err := hs.c.read()
		if err != nil {
			hs.err = err
			continue
		}
		if d := v - hs.last; d != 0 {
			c.v.Add(srcHostFirst+i, d)
		}
		hs.last = v
	}
}

// closeHost closes this VCPU's host counters.
func (c *vpmuVCPU) closeHost() error {
	var errs []error
	for _, hs := range c.host {
		if hs.c != nil {
			errs = append(errs, hs.c.close())
		}
	}
	c.host = nil
	return errors.Join(errs...)
}
