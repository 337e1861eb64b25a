package hypervisor

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

// buildGo builds the Go program in testdata/name, static
// (CGO_ENABLED=0), skipping the test without a go tool.
func buildGo(t testing.TB, name string) string {
	t.Helper()
	gotool := testutil.GoTool(t)
	prog := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(gotool, "build", "-o", prog, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return prog
}

// TestGoRuntime runs a static Go program with the garbage collector on:
// timers in epoll_pwait over an eventfd, asynchronous preemption by
// tgkill(SIGURG), os/signal, and runtime.GC in a loop with more Ps than
// VCPUs. The output must be the native output.
func TestGoRuntime(t *testing.T) {
	prog := buildGo(t, "gosignals")
	for _, tc := range []struct {
		mode string
		env  []string
		cfg  Config
		// handlers is the least number of signal handlers the run must
		// have started: os/signal's, and asynchronous preemption's.
		handlers uint64
	}{
		{"pipeline", nil, Config{VCPUs: 2}, 0},
		{"pipeline", nil, Config{VCPUs: 1}, 0},
		{"pipeline", []string{"GOMAXPROCS=4"}, Config{VCPUs: 2, PCPUs: 1}, 0},
		{"signal", nil, Config{VCPUs: 2}, 4},
		{"gc", []string{"GOMAXPROCS=4"}, Config{VCPUs: 2}, 1},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			native := runNativeProgram(t, tc.env, prog, tc.mode)
			cfg := tc.cfg
			cfg.Env = tc.env
			r := runVMProgram(t, cfg, prog, tc.mode)
			if r.err != nil || r.status != native.status || r.stdout != native.stdout {
				t.Fatalf("%d VCPUs %v: status %d err %v\nstdout:\n%s\nnative (status %d):\n%s\nstderr:\n%s",
					cfg.VCPUs, tc.env, r.status, r.err, r.stdout, native.status, native.stdout, r.stderr)
			}
			if len(r.stats.Unimplemented) != 0 {
				t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
			}
			if r.stats.Signals < tc.handlers {
				t.Errorf("%d signal handlers ran, want at least %d", r.stats.Signals, tc.handlers)
			}
			t.Logf("%+v", r.stats)
		})
	}
}
