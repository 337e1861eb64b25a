package profiler

import (
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }
