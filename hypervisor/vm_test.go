package hypervisor

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
)

func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }

// buildC compiles testdata/name.c with gcc -static (plus extra flags)
// into a temporary directory, skipping the test if gcc is missing.
func buildC(t testing.TB, name string, extra ...string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("skipping: gcc not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-static", "-O2", "-o", out, filepath.Join("testdata", name+".c")}, extra...)
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}

// guestResult is what a guest run produced.
type guestResult struct {
	stdout, stderr string
	status         ExitStatus
	err            error
	stats          Stats
}

// runGuest runs prog in a new VM with cfg (Stdout/Stderr captured).
func runGuest(t testing.TB, cfg Config, prog string, args ...string) guestResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	st, stats, err := runVM(t, cfg, prog, args...)
	return guestResult{stdout: stdout.String(), stderr: stderr.String(), status: st, err: err, stats: stats}
}

// runVM runs prog with args in a new VM with cfg as given, streams
// included, for at most two minutes.
func runVM(t testing.TB, cfg Config, prog string, args ...string) (ExitStatus, Stats, error) {
	t.Helper()
	testutil.MustHaveKVM(t)
	vm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := vm.Run(ctx, prog, append([]string{prog}, args...))
	return st, vm.Stats(), err
}

// runNative runs prog on the host with the same arguments and
// environment.
func runNative(t testing.TB, env []string, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestHelloStatic(t *testing.T) {
	prog := buildC(t, "hello")
	env := []string{"VPMU_TEST=yes", "PATH=/usr/bin:/bin"}
	r := runGuest(t, Config{Env: env}, prog, "7", "second arg")
	if r.err != nil {
		t.Fatalf("run: %v\nstderr: %s", r.err, r.stderr)
	}
	nout, nerr, ncode := runNative(t, env, prog, "7", "second arg")
	if r.stdout != nout {
		t.Errorf("stdout differs from native:\nguest:  %q\nnative: %q", r.stdout, nout)
	}
	if r.stderr != nerr {
		t.Errorf("stderr = %q, native %q", r.stderr, nerr)
	}
	if r.status.Int() != ncode || ncode != 7 {
		t.Errorf("exit status %v, native %d", r.status, ncode)
	}
	if len(r.stats.Unimplemented) != 0 {
		t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
	}
	t.Logf("stats: %+v", r.stats)
}

// TestCloseKillsRun: Close during a run kills the program, waits for
// Run to return and releases everything; Run and Close are then refused.
func TestCloseKillsRun(t *testing.T) {
	prog := buildC(t, "bench", "-pthread")
	testutil.MustHaveKVM(t)
	vm, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan ExitStatus)
	go func() {
		st, _ := vm.Run(context.Background(), prog, []string{prog, "loop", "100000000000"})
		done <- st
	}()
	for vm.Stats().Syscalls < 5 {
		time.Sleep(time.Millisecond)
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	if st := <-done; st.Signal != syscall.SIGKILL {
		t.Errorf("status %v, want SIGKILL", st)
	}
	if _, err := vm.Run(context.Background(), prog, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if err := vm.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRunContext: a cancelled context kills the program.
func TestRunContext(t *testing.T) {
	prog := buildC(t, "bench", "-pthread")
	testutil.MustHaveKVM(t)
	vm, err := New(Config{VCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	st, err := vm.Run(ctx, prog, []string{prog, "loop", "100000000000"})
	if err != nil || st.Signal != syscall.SIGKILL {
		t.Errorf("Run = %v, %v; want killed by SIGKILL", st, err)
	}
	if _, err := vm.Run(context.Background(), prog, nil); !errors.Is(err, ErrVMUsed) {
		t.Errorf("second Run: %v, want ErrVMUsed", err)
	}
}

// compareModes runs prog in each mode natively and in the VM on one and
// two VCPUs, in parallel: the native run must succeed, the VM's output
// and status must be the native ones byte for byte, and the VM must meet
// no unimplemented system call.
func compareModes(t *testing.T, prog string, modes ...string) {
	t.Helper()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			native := runNativeProgram(t, nil, prog, mode)
			if native.status != 0 {
				t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
			}
			for _, vcpus := range []int{1, 2} {
				r := runVMProgram(t, Config{VCPUs: vcpus}, prog, mode)
				if r.status != native.status || r.stdout != native.stdout {
					t.Errorf("%d VCPUs: status %d err %v, stdout:\n%s\nnative status %d, stdout:\n%s\ndiff:\n%s\nstderr: %s",
						vcpus, r.status, r.err, r.stdout, native.status, native.stdout, lineDiff(r.stdout, native.stdout), r.stderr)
				}
				if len(r.stats.Unimplemented) != 0 {
					t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
				}
			}
		})
	}
}
