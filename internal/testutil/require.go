package testutil

import (
	"os"
	"strings"
	"testing"
)

// required reports whether the capability name was listed in VPMU_REQUIRE,
// in which case a probe that fails must fail the test instead of skipping.
func required(name string) bool {
	for _, f := range strings.Split(os.Getenv("VPMU_REQUIRE"), ",") {
		if strings.TrimSpace(f) == name {
			return true
		}
	}
	return false
}

// skipOrFail skips t with the reason, or fails it if the capability is
// required by VPMU_REQUIRE.
func skipOrFail(t testing.TB, capability, reason string) {
	t.Helper()
	if required(capability) {
		t.Fatalf("%s is required (VPMU_REQUIRE) but unavailable: %s", capability, reason)
	}
	t.Skipf("skipping: %s unavailable: %s", capability, reason)
}
