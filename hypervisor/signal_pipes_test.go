package hypervisor

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

// TestPipeSignalPrograms runs testdata/pipesig.c, where pipes meet
// signals, natively and in the VM on one and two VCPUs: same output,
// same status. It covers SIGPIPE and EPIPE on every way of writing into
// a pipe, writers that lose their reader while parked, pipe reads and
// writes interrupted with and without SA_RESTART, poll, select, ppoll,
// pselect6 and epoll_wait interrupted (with the time left), the
// temporary masks of ppoll, pselect6 and epoll_pwait, and splice, tee
// and vmsplice.
func TestPipeSignalPrograms(t *testing.T) {
	prog := buildC(t, "pipesig", "-pthread")
	for _, tc := range []struct {
		args   []string
		status int
	}{
		{[]string{"sigpipe", "write"}, 128 + sigPIPE},
		{[]string{"sigpipe", "writev"}, 128 + sigPIPE},
		{[]string{"sigpipe", "pwritev2"}, 128 + sigPIPE},
		{[]string{"sigpipe", "sendfile"}, 128 + sigPIPE},
		{[]string{"epipe"}, 0},
		{[]string{"parked"}, 0},
		{[]string{"rw"}, 0},
		{[]string{"waits"}, 0},
		{[]string{"masks"}, 0},
		{[]string{"splice"}, 0},
	} {
		name := tc.args[0]
		if len(tc.args) > 1 {
			name += "-" + tc.args[1]
		}
		t.Run(name, func(t *testing.T) {
			native := runNativeProgram(t, nil, prog, tc.args...)
			if native.status != tc.status {
				t.Fatalf("native run: status %d, want %d\n%s%s", native.status, tc.status, native.stdout, native.stderr)
			}
			for _, vcpus := range []int{1, 2} {
				r := runVMProgram(t, Config{VCPUs: vcpus}, prog, tc.args...)
				if r.status != native.status || r.stdout != native.stdout {
					t.Errorf("%d VCPUs: status %d err %v, stdout:\n%s\nnative status %d, stdout:\n%s\ndiff:\n%s\nstderr: %s",
						vcpus, r.status, r.err, r.stdout, native.status, native.stdout,
						lineDiff(r.stdout, native.stdout), r.stderr)
				}
				if len(r.stats.Unimplemented) != 0 {
					t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
				}
			}
		})
	}
}

// pipeIntoHead runs produce with its standard output into a host pipe
// read by 'head -1', as the shell runs 'produce | head -1'. It returns
// what head printed and produce's status and standard error.
func pipeIntoHead(t *testing.T, produce func(stdout *os.File, stderr *bytes.Buffer) int) (head string, status int, stderr string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command("head", "-1")
	cmd.Stdin, cmd.Stdout = r, &out
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Skipf("skipping: cannot start head: %v", err)
	}
	r.Close()
	var errb bytes.Buffer
	status = produce(w, &errb)
	w.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("head: %v", err)
	}
	return out.String(), status, errb.String()
}

// TestSigpipeHostPipe: 'yes | head -1' with the program's standard
// output a host pipe. When head exits, the program's next write gets
// SIGPIPE, whose default action ends it with status 141; with SIGPIPE
// ignored the write fails with EPIPE and the program reports it. The
// same as natively, byte for byte.
func TestSigpipeHostPipe(t *testing.T) {
	prog := buildC(t, "pipesig", "-pthread")
	testutil.MustHaveKVM(t)
	for _, tc := range []struct {
		args   []string
		status int
	}{
		{[]string{"yes"}, 128 + sigPIPE},
		{[]string{"yes", "ignore"}, 3},
	} {
		nHead, nStatus, nStderr := pipeIntoHead(t, func(stdout *os.File, stderr *bytes.Buffer) int {
			cmd := exec.Command(prog, tc.args...)
			cmd.Stdout, cmd.Stderr = stdout, stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("native %v: %v", tc.args, err)
			}
			if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ee.ExitCode()
		})
		if nStatus != tc.status || nHead != "y\n" {
			t.Fatalf("native %v: status %d, head %q, want %d", tc.args, nStatus, nHead, tc.status)
		}
		for _, vcpus := range []int{1, 2} {
			head, status, stderr := pipeIntoHead(t, func(stdout *os.File, stderr *bytes.Buffer) int {
				st, _, err := runVM(t, Config{VCPUs: vcpus, Stdout: stdout, Stderr: stderr}, prog, tc.args...)
				if err != nil {
					t.Errorf("%v: %v", tc.args, err)
				}
				return st.Int()
			})
			if head != nHead || status != nStatus || stderr != nStderr {
				t.Errorf("%v on %d VCPUs: head %q status %d stderr %q; native %q %d %q",
					tc.args, vcpus, head, status, stderr, nHead, nStatus, nStderr)
			}
		}
	}
}
