package hypervisor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

// TestDynamicELF runs dynamically linked programs through the host's
// ld.so: a C hello world, and Debian's bzip2 compressing a file from
// stdin, byte-identical to the native run.
func TestDynamicELF(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "dynhello")
	if gcc, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("skipping: gcc not found: %v", err)
	} else if out, err := exec.Command(gcc, "-O2", "-o", prog, filepath.Join("testdata", "hello.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	env := []string{"VPMU_TEST=dynamic"}
	r := runGuest(t, Config{Env: env}, prog, "3")
	nout, _, ncode := runNative(t, env, prog, "3")
	if r.err != nil || r.stdout != nout || r.status.Int() != ncode {
		t.Errorf("dynamic hello: %v %v %q; native %q %d", r.status, r.err, r.stdout, nout, ncode)
	}

	const bzip2 = "/usr/bin/bzip2"
	if _, err := os.Stat(bzip2); err != nil {
		t.Skipf("skipping bzip2: %v", err)
	}
	in := bytes.Repeat([]byte("vpmu runs bzip2 in guest ring 3. "), 20000)
	var native bytes.Buffer
	cmd := exec.Command(bzip2, "-c")
	cmd.Stdin, cmd.Stdout = bytes.NewReader(in), &native
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	r = runGuest(t, Config{Stdin: bytes.NewReader(in)}, bzip2, "-c")
	if r.err != nil || r.status.Int() != 0 {
		t.Fatalf("bzip2: %v %v\n%s", r.status, r.err, r.stderr)
	}
	if r.stdout != native.String() {
		t.Errorf("bzip2 output differs from native (%d vs %d bytes)", len(r.stdout), native.Len())
	}
	if len(r.stats.Unimplemented) != 0 {
		t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
	}
}

// TestGoStatic runs a static Go program with many goroutines on two
// VCPUs, with the garbage collector on.
func TestGoStatic(t *testing.T) {
	gotool := testutil.GoTool(t)
	dir := t.TempDir()
	prog := filepath.Join(dir, "goguest")
	cmd := exec.Command(gotool, "build", "-o", prog, "./testdata/goguest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var env []string
	nout, _, _ := runNative(t, env, prog)
	r := runGuest(t, Config{VCPUs: 2, Env: env}, prog)
	if r.err != nil || r.status.Int() != 0 || r.stdout != nout {
		t.Fatalf("go guest: %v %v %q, native %q\n%s", r.status, r.err, r.stdout, nout, r.stderr)
	}
	if len(r.stats.Unimplemented) != 0 {
		t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
	}
	t.Logf("%+v", r.stats)
}

// TestProcessCPUTime runs testdata/cputime.c natively and in the VM on
// one and two VCPUs: the process's CPU clock, getrusage and
// /proc/self/stat count the CPU time of a thread that exited.
func TestProcessCPUTime(t *testing.T) {
	prog := buildC(t, "cputime", "-pthread")
	nout, _, ncode := runNative(t, nil, prog)
	if ncode != 0 {
		t.Fatalf("native run: status %d\n%s", ncode, nout)
	}
	for _, vcpus := range []int{1, 2} {
		r := runGuest(t, Config{VCPUs: vcpus}, prog)
		if r.err != nil || r.status.Int() != 0 || r.stdout != nout {
			t.Errorf("%d VCPUs: %v %v\n%s\nnative:\n%s\ndiff:\n%s", vcpus, r.status, r.err, r.stdout, nout, lineDiff(r.stdout, nout))
		}
	}
}
