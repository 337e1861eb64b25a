package cli

import (
	"github.com/vpmu/vpmu/pmu"
)

// PMUCatalog adapts a *pmu.Catalog to Catalog.
type PMUCatalog struct{ *pmu.Catalog }

// ParseSpec parses spec against the catalog with pmu.ParseSpec.
func (c PMUCatalog) ParseSpec(spec string) (pmu.Spec, error) { return pmu.ParseSpec(spec, c.Catalog) }

// DefaultEnv returns the Env of the vpmu binary: the pmu package's
// default catalog (builtin events and the PMUs in /sys). The standard
// streams are left nil for the caller to set.
//
// The Linux perf_event backend (Source, OpenProcess, Launch) is not
// wired yet: vpmu stat fails with ErrNotWired and vpmu list reports
// support as unknown.
func DefaultEnv() Env {
	return Env{Catalog: PMUCatalog{pmu.DefaultCatalog()}}
}
