package pmu

import (
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

// TestMain fails the package's tests when they leak file descriptors:
// sysfs discovery and the probes read many files.
func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }
