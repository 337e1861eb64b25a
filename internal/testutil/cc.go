package testutil

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildNoLibc compiles the C file src into a static executable without a
// C library (its own _start and system calls), named name in the test's
// temporary directory, and returns its path. It skips the test without
// gcc.
func BuildNoLibc(t testing.TB, src, name string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("skipping: gcc not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	args := []string{"-static", "-nostdlib", "-fno-builtin", "-fno-stack-protector", "-O2", "-o", out, src}
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}
