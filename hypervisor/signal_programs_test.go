package hypervisor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
)

// gate is a stdin that gives nothing until its output watcher saw a
// marker line, then data and EOF: a program can block in read(0) for as
// long as the test wants, natively and in the VM alike.
type gate struct {
	open chan struct{}
	once sync.Once
	data []byte
}

func newGate(data string) *gate { return &gate{open: make(chan struct{}), data: []byte(data)} }

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) Read(p []byte) (int, error) {
	<-g.open
	if len(g.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	return n, nil
}

// watchWriter collects output and calls fire (once) when marker
// appears.
type watchWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	fire   func()
	fired  bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.fire != nil && !w.fired && strings.Contains(w.buf.String(), w.marker) {
		w.fired = true
		go w.fire()
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// programRun is one run of a program, native or in the VM.
type programRun struct {
	stdout, stderr string
	status         int // exit code or 128+signal
	err            error
	stats          Stats
}

// stdinFor returns what a run of mode reads on stdin, and the watcher
// for its stdout.
func stdinFor(mode string) (io.Reader, *watchWriter) {
	switch mode {
	case "eintr", "restart":
		g := newGate("data\n")
		return g, &watchWriter{marker: "signals sent\n", fire: g.release}
	}
	return strings.NewReader(""), &watchWriter{}
}

// runNativeProgram runs prog on the host; the status of a program
// killed by a signal is 128+signal, as a shell reports it.
func runNativeProgram(t testing.TB, env []string, prog string, args ...string) programRun {
	t.Helper()
	mode := ""
	if len(args) > 0 {
		mode = args[0]
	}
	stdin, stdout := stdinFor(mode)
	return runNativeIO(t, env, stdin, stdout, prog, args...)
}

// runNativeIO runs prog on the host with env, stdin and stdout, for at
// most two minutes; the status of a program killed by a signal is
// 128+signal, as a shell reports it.
func runNativeIO(t testing.TB, env []string, stdin io.Reader, stdout interface {
	io.Writer
	String() string
}, prog string, args ...string) programRun {
	t.Helper()
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, &stderr
	err := cmd.Run()
	r := programRun{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.status = 128 + int(ws.Signal())
		} else {
			r.status = ws.ExitStatus()
		}
	case err != nil:
		t.Fatalf("native %s %v: %v", prog, args, err)
	}
	return r
}

// runVMProgram runs prog in a new VM with cfg, with the same stdin
// arrangement as runNativeProgram.
func runVMProgram(t testing.TB, cfg Config, prog string, args ...string) programRun {
	t.Helper()
	mode := ""
	if len(args) > 0 {
		mode = args[0]
	}
	stdin, stdout := stdinFor(mode)
	var stderr bytes.Buffer
	cfg.Stdin, cfg.Stdout, cfg.Stderr = stdin, stdout, &stderr
	st, stats, err := runVM(t, cfg, prog, args...)
	if g, ok := stdin.(*gate); ok {
		g.release() // let the stdin pump finish
	}
	return programRun{stdout: stdout.String(), stderr: stderr.String(), status: st.Int(), err: err, stats: stats}
}

// TestSignalPrograms runs testdata/signals.c in every mode, natively
// and in the VM on one and two VCPUs: same output, same status.
func TestSignalPrograms(t *testing.T) {
	prog := buildC(t, "signals", "-pthread")
	for _, tc := range []struct {
		mode   string
		status int
	}{
		{"segv", 0},
		{"siginfo", 0},
		{"fpe", 0},
		{"raise", 0},
		{"flags", 128 + 12},
		{"altstack", 0},
		{"threads", 0},
		{"eintr", 0},
		{"restart", 0},
		{"queue", 0},
		{"suspend", 0},
		{"sleep", 0},
		{"abort", 134},
		{"fixups", 0},
		{"timer", 0},
		{"resources", 0},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			native := runNativeProgram(t, nil, prog, tc.mode)
			if native.status != tc.status {
				t.Fatalf("native run: status %d, want %d\n%s%s", native.status, tc.status, native.stdout, native.stderr)
			}
			for _, vcpus := range []int{1, 2} {
				r := runVMProgram(t, Config{VCPUs: vcpus}, prog, tc.mode)
				if r.status != native.status || r.stdout != native.stdout {
					t.Errorf("%d VCPUs: status %d err %v, stdout:\n%s\nnative status %d, stdout:\n%s\nstderr: %s",
						vcpus, r.status, r.err, r.stdout, native.status, native.stdout, r.stderr)
				}
				if len(r.stats.Unimplemented) != 0 {
					t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
				}
			}
		})
	}
}

// TestVMSignal: VM.Signal delivers a signal from the host to the guest
// process, to its handler or with its default action, and refuses when
// nothing runs.
func TestVMSignal(t *testing.T) {
	prog := buildC(t, "signals", "-pthread")
	testutil.MustHaveKVM(t)
	for _, tc := range []struct {
		sig    syscall.Signal
		stdout string
		status int
	}{
		{syscall.SIGTERM, "ready\ngot SIGTERM\n", 0},
		{syscall.SIGINT, "ready\n", 128 + 2},
		{syscall.SIGUSR1, "ready\n", 128 + 10},
		{syscall.SIGKILL, "ready\n", 128 + 9},
		{syscall.SIGCHLD, "ready\n", 128 + 9}, // ignored; the SIGKILL after it ends the test
	} {
		var vm *VM
		out := &watchWriter{marker: "ready\n"}
		out.fire = func() {
			if err := vm.Signal(tc.sig); err != nil {
				t.Errorf("Signal(%v): %v", tc.sig, err)
			}
			if tc.sig == syscall.SIGCHLD {
				time.Sleep(50 * time.Millisecond)
				vm.Signal(syscall.SIGKILL)
			}
		}
		vm, err := New(Config{VCPUs: 2, Stdout: out})
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Signal(tc.sig); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Signal before Run: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		st, err := vm.Run(ctx, prog, []string{prog, "waitsig"})
		cancel()
		if err != nil || st.Int() != tc.status || out.String() != tc.stdout {
			t.Errorf("%v: status %v err %v stdout %q; want %d %q", tc.sig, st, err, out.String(), tc.status, tc.stdout)
		}
		if err := vm.Signal(tc.sig); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Signal after Run: %v", err)
		}
		if err := vm.Signal(65); err == nil {
			t.Error("Signal(65) accepted")
		}
		vm.Close()
	}
}

// TestEpollPrograms runs testdata/epoll.c: eventfd counters and
// semaphores, epoll's level, edge and one-shot modes, nesting, errors,
// wake-ups from other threads, EINTR and epoll_pwait's mask; eventfd's
// flags as fcntl sees and changes them and its blocking writes; epoll
// over both ends of pipes, level- and edge-triggered.
func TestEpollPrograms(t *testing.T) {
	prog := buildC(t, "epoll", "-pthread")
	for _, mode := range []string{"eventfd", "epoll", "eventfd-flags", "pipes"} {
		t.Run(mode, func(t *testing.T) {
			native := runNativeProgram(t, nil, prog, mode)
			for _, vcpus := range []int{1, 2} {
				r := runVMProgram(t, Config{VCPUs: vcpus}, prog, mode)
				if r.status != native.status || r.stdout != native.stdout {
					t.Errorf("%d VCPUs: status %d err %v, stdout:\n%s\nnative status %d, stdout:\n%s\ndiff:\n%s",
						vcpus, r.status, r.err, r.stdout, native.status, native.stdout, lineDiff(r.stdout, native.stdout))
				}
				if len(r.stats.Unimplemented) != 0 {
					t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
				}
			}
		})
	}
}
