// Package testutil holds the probes tests use to skip, with the reason,
// when a capability is truly absent (MustHaveKVM, MustHavePerfEvent,
// MustHaveHardwarePMU), and a TestMain helper that fails a package's tests
// when they leak file descriptors.
//
// Capabilities that exist on vpmu's development and CI machines (KVM,
// software perf events) are expected: set VPMU_REQUIRE=kvm,perf to turn
// their skips into failures, as .ci/run does.
package testutil
