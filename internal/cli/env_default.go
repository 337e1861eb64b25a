package cli

// DefaultEnv returns the Env of the vpmu binary: the pmu package's
// default catalog and the Linux perf_event backend. The standard streams
// are left nil for the caller to set.
func DefaultEnv() Env {
	return Env{}
}
