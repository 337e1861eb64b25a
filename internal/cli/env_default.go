package cli

import (
	"os/exec"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// PMUCatalog adapts a *pmu.Catalog to Catalog.
type PMUCatalog struct{ *pmu.Catalog }

// ParseSpec parses spec against the catalog with pmu.ParseSpec.
func (c PMUCatalog) ParseSpec(spec string) (pmu.Spec, error) { return pmu.ParseSpec(spec, c.Catalog) }

// DefaultEnv returns the Env of the vpmu binary: the pmu package's
// default catalog (builtin events and the PMUs in /sys) and the Linux
// perf_event backend. The standard streams are left nil for the caller
// to set. The binary's main must call perfevent.MaybeRunTrampoline
// first, because Launch starts commands through it.
func DefaultEnv() Env {
	src := perfevent.New()
	return Env{
		Catalog: PMUCatalog{pmu.DefaultCatalog()},
		Source:  src,
		OpenProcess: func(g pmu.Group, pid int) (pmu.Counter, error) {
			return src.OpenProcess(g, pid, pmu.Target{})
		},
		Launch: func(cmd *exec.Cmd) (Stopped, error) {
			s, err := perfevent.StartStopped(cmd)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		OpenSampler: func(g pmu.Group, t pmu.Target, cfg perfevent.SampleConfig) (Sampler, error) {
			s, err := src.OpenSampler(g, t, cfg)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
