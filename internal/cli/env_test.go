package cli

import (
	"os"
	"os/exec"
	"testing"
)

func TestProcessAlive(t *testing.T) {
	if !processAlive(os.Getpid()) {
		t.Error("processAlive(self) = false")
	}
	if !processAlive(1) {
		t.Error("processAlive(1) = false: init exists (EPERM counts as alive)")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if processAlive(cmd.Process.Pid) {
		t.Errorf("processAlive(%d) = true for a reaped child", cmd.Process.Pid)
	}
}
