package cli

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunBinary runs the real vpmu binary end to end: Debian's xz
// compressing standard input to standard output, byte-identical with
// the native run; a crash's exit status; and SIGTERM to vpmu killing the
// program.
func TestRunBinary(t *testing.T) {
	prog := guestProg(t)
	bin := filepath.Join(t.TempDir(), "vpmu")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/vpmu")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vpmu: %v\n%s", err, out)
	}
	if _, err := os.Stat("/usr/bin/xz"); err == nil {
		in := bytes.Repeat([]byte("vpmu run passes standard input and output through. "), 40000)
		native := exec.Command("/usr/bin/xz", "-c")
		native.Stdin = bytes.NewReader(in)
		want, err := native.Output()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--", "xz", "-c")
		cmd.Stdin = bytes.NewReader(in)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		got, err := cmd.Output()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("vpmu run -- xz -c: %v, %d bytes, native %d\n%s", err, len(got), len(want), errb.String())
		}
	}

	cmd := exec.Command(bin, "run", prog, "segv")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 139 || !strings.Contains(errb.String(), "SIGSEGV") && !strings.Contains(errb.String(), "segmentation fault") {
		t.Errorf("segv: exit %d\n%s", code, errb.String())
	}

	// 'vpmu run -- yes | head -1': the program, not vpmu, gets SIGPIPE
	// (status 141, as natively) or, ignoring it, EPIPE.
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"yes"}, 128 + int(syscall.SIGPIPE), ""},
		{[]string{"yes", "ignore"}, 3, "yes: Broken pipe\n"},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		head := exec.Command("head", "-1")
		var headOut bytes.Buffer
		head.Stdin, head.Stdout = r, &headOut
		if err := head.Start(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := exec.Command(bin, append([]string{"run", prog}, tc.args...)...)
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = w, &errb
		cmd.Run()
		w.Close()
		head.Wait()
		if code := cmd.ProcessState.ExitCode(); code != tc.code || errb.String() != tc.stderr || headOut.String() != "y\n" {
			t.Errorf("vpmu run %v | head -1: %v, exit %d, stderr %q, head %q; want exit %d, stderr %q",
				tc.args, cmd.ProcessState, code, errb.String(), headOut.String(), tc.code, tc.stderr)
		}
	}

	cmd = exec.Command(bin, "run", prog, "sleep")
	errb.Reset()
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "sleeping\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sleep: read %q, %v", line, err)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) || !strings.Contains(errb.String(), "vpmu run: terminated: the program was killed") {
		t.Errorf("SIGTERM: exit %d\n%s", code, errb.String())
	}
	t.Logf("vpmu run exited %v after SIGTERM", time.Since(start))
}
