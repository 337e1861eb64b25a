package testutil

import (
	"os/exec"
	"testing"
)

// GoTool returns the path of the go command, skipping the test without
// one. go test puts its own GOROOT's bin first in the test's PATH, so
// this is the toolchain that runs the test.
func GoTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: no go tool: %v", err)
	}
	return p
}
