package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/internal/testutil"
)

// guestProg compiles testdata/runguest.c with gcc -static into a
// temporary directory, skipping without KVM or gcc.
func guestProg(t *testing.T) string {
	t.Helper()
	testutil.MustHaveKVM(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("skipping: gcc not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), "runguest")
	if b, err := exec.Command(gcc, "-static", "-O2", "-o", out, "testdata/runguest.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

// vpmuRun runs "vpmu run ARGS" in-process with stdin and returns the
// exit status, stdout and stderr.
func vpmuRun(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code := env.Run(append([]string{"run"}, args...))
	return code, out.String(), errb.String()
}

func TestRunPassesThrough(t *testing.T) {
	prog := guestProg(t)
	in := bytes.Repeat([]byte("standard input passes through\n"), 10000)
	code, out, errs := vpmuRun(t, in, "--vcpus", "1", "--", prog, "io")
	if code != 0 || out != string(in) || errs != "copied 300000 bytes\n" {
		t.Errorf("io: exit %d, %d bytes out, stderr %q", code, len(out), errs)
	}
	for _, want := range []string{"0", "42", "255"} {
		if code, _, errs := vpmuRun(t, nil, prog, "exit", want); want != strconv.Itoa(code) {
			t.Errorf("exit %s: status %d, stderr %q", want, code, errs)
		}
	}
}

func TestRunEnv(t *testing.T) {
	prog := guestProg(t)
	t.Setenv("HOME", "/home/tester")
	t.Setenv("TERM", "xterm-test")
	t.Setenv("VPMU_FROM_HOST", "copied")
	t.Setenv("VPMU_SECRET", "must not leak")
	code, out, errs := vpmuRun(t, nil, "--env", "A=1", "--env", "HOME=/override", "--env", "VPMU_FROM_HOST", "--env", "VPMU_UNSET_XYZ", prog, "env")
	want := "PATH=" + defaultGuestPath + "\nHOME=/override\nTERM=xterm-test\nA=1\nVPMU_FROM_HOST=copied\n"
	if code != 0 || out != want {
		t.Errorf("environment: exit %d (%s)\ngot:\n%s\nwant:\n%s", code, errs, out, want)
	}
}

func TestRunSandbox(t *testing.T) {
	prog := guestProg(t)
	granted, other := t.TempDir(), t.TempDir()
	inside, outside := filepath.Join(granted, "f"), filepath.Join(other, "f")
	code, out, errs := vpmuRun(t, nil, "--rw", granted, prog, "write", inside)
	if b, err := os.ReadFile(inside); code != 0 || err != nil || string(b) != "written by the guest\n" {
		t.Errorf("write in a granted directory: exit %d %q %q (%v)", code, out, errs, err)
	}
	code, out, errs = vpmuRun(t, nil, "--rw", granted, prog, "write", outside)
	if code != 1 || out != "write "+outside+": EROFS\n" ||
		!strings.Contains(errs, "vpmu run: sandbox: open for writing "+outside+": read-only file system (only directories granted with --rw are writable)\n") {
		t.Errorf("write outside: exit %d %q\nstderr: %s", code, out, errs)
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Errorf("the file outside exists: %v", err)
	}
	code, out, errs = vpmuRun(t, nil, prog, "socket")
	if code != 1 || out != "socket: EACCES\n" ||
		!strings.Contains(errs, "vpmu run: sandbox: network access is not allowed in the vpmu sandbox: socket(AF_INET, SOCK_STREAM)\n") {
		t.Errorf("socket: exit %d %q\nstderr: %s", code, out, errs)
	}
}

func TestRunCrash(t *testing.T) {
	prog := guestProg(t)
	code, out, errs := vpmuRun(t, nil, "--vcpus", "1", prog, "segv")
	if code != 139 || out != "about to crash\n" {
		t.Errorf("segv: exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"vpmu run: guest thread 1000 crashed: segmentation fault (#PF page fault at address 0x8, page not present, read) at rip 0x",
		"  signal:  segmentation fault (11)\n", "  fault:   vector 14, error code 0x4, address 0x8\n", "  thread:  1000 on VCPU 0\n", "  rip 0x", "  rax 0x"} {
		if !strings.Contains(errs, want) {
			t.Errorf("crash report lacks %q:\n%s", want, errs)
		}
	}
}

func TestRunMemoryCap(t *testing.T) {
	prog := guestProg(t)
	code, _, errs := vpmuRun(t, nil, "--mem", "32M", prog, "memhog")
	if code != 3 || !strings.Contains(errs, "memhog: malloc failed after ") ||
		!strings.Contains(errs, "vpmu run: sandbox: guest memory limit reached: ") || !strings.Contains(errs, "of the 32.0 MiB limit in use (raise --mem)") {
		t.Errorf("memhog: exit %d\n%s", code, errs)
	}
}

func TestRunBadPrograms(t *testing.T) {
	prog := guestProg(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	elf, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	elf32 := append([]byte(nil), elf[:4096]...)
	elf32[4] = 1 // ELFCLASS32
	// A dynamic program whose interpreter does not exist: the same
	// length path, so the ELF stays well formed.
	var noInterp string
	if dyn, err := os.ReadFile("/usr/bin/xz"); err == nil {
		const ld = "/lib64/ld-linux-x86-64.so.2"
		if i := bytes.Index(dyn, []byte(ld)); i > 0 {
			copy(dyn[i:], "/lib64/ld-vpmu-missing.so.2")
			noInterp = write("nointerp", dyn)
		}
	}
	for _, tc := range []struct {
		name, path string
		code       int
		msg        string
	}{
		{"text file", write("text", []byte("hello\n")), 126, ": not an ELF file\n"},
		{"truncated ELF", write("truncated", elf[:200]), 126, ": truncated ELF file"},
		{"32-bit ELF", write("elf32", elf32), 126, ": not a 64-bit ELF file"},
		{"missing interpreter", noInterp, 126, ": cannot load the ELF interpreter /lib64/ld-vpmu-missing.so.2"},
		{"script", write("script", []byte("#!/bin/sh\necho hi\n")), 126, "#! scripts are not supported"},
		{"directory", dir, 126, ": not an ELF file: is a directory"},
		{"missing file", filepath.Join(dir, "nope"), 127, "no such file or directory"},
		{"missing command", "vpmu-no-such-command", 127, "vpmu run: vpmu-no-such-command: not found in $PATH\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path == "" {
				t.Skip("skipping: no dynamic /usr/bin/xz to patch")
			}
			code, out, errs := vpmuRun(t, nil, tc.path)
			if code != tc.code || out != "" || !strings.Contains(errs, tc.msg) || !strings.HasPrefix(errs, "vpmu run: ") {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errs, tc.code, tc.msg)
			}
		})
	}
}

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--help"}, 0, "Usage: vpmu run [--vcpus N]"},
		{nil, 125, "vpmu run: nothing to run: give a program"},
		{[]string{"--mem", "lots", "x"}, 125, `vpmu run: --mem "lots": want a size like 512M or 2G`},
		{[]string{"--mem", "100K", "x"}, 125, `vpmu run: --mem "100K": want at least 1M`},
		{[]string{"--vcpus", "0", "x"}, 125, "vpmu run: --vcpus 0: want 1 to "},
		{[]string{"--pcpus", "-1", "x"}, 125, "vpmu run: --pcpus -1: want at least 1"},
		{[]string{"--rw", "/nonexistent/dir", "x"}, 125, "vpmu run: --rw /nonexistent/dir: stat /nonexistent/dir: no such file or directory"},
		{[]string{"--rw", "/etc/passwd", "x"}, 125, "vpmu run: --rw /etc/passwd: not a directory"},
		{[]string{"--env", "=x", "x"}, 125, `vpmu run: --env "=x": want KEY=VALUE or KEY`},
		{[]string{"--bogus", "x"}, 125, "vpmu run: unknown flag -bogus"},
	} {
		code, out, errs := vpmuRun(t, nil, tc.args...)
		got := errs
		if tc.code == 0 {
			got = out
		}
		if code != tc.code || !strings.Contains(got, tc.msg) {
			t.Errorf("vpmu run %q: exit %d, output %q; want %d and %q", tc.args, code, got, tc.code, tc.msg)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"512M", 512 << 20, true}, {"2G", 2 << 30, true}, {"2g", 2 << 30, true}, {"1.5G", 3 << 29, true},
		{"64MiB", 64 << 20, true}, {"64MB", 64 << 20, true}, {"4096", 4096, true}, {"1T", 1 << 40, true},
		{"", 0, false}, {"G", 0, false}, {"-1M", 0, false}, {"12X", 0, false}, {"NaN", 0, false}, {"1e30T", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestRunResultSignal checks when vpmu run reports the signal it got as
// what ended the program: only when the program was killed. A SIGINT
// that arrives after the program exited on its own (after vm.Run
// returned, before vpmu stopped listening) leaves its exit status alone.
// runResult decides from the exit status Run returned, so the race is
// tested by its two outcomes, without timing.
func TestRunResultSignal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		st       hypervisor.ExitStatus
		got      os.Signal
		want     int
		reported bool
	}{
		{"killed by the signal", hypervisor.ExitStatus{Signal: syscall.SIGKILL}, os.Interrupt, 130, true},
		{"killed by SIGTERM", hypervisor.ExitStatus{Signal: syscall.SIGKILL}, syscall.SIGTERM, 143, true},
		{"exited before the signal", hypervisor.ExitStatus{Code: 0}, os.Interrupt, 0, false},
		{"exited 3 before the signal", hypervisor.ExitStatus{Code: 3}, syscall.SIGHUP, 3, false},
		{"died of its own signal", hypervisor.ExitStatus{Signal: syscall.SIGABRT}, os.Interrupt, 128 + int(syscall.SIGABRT), false},
		{"killed itself, no signal to vpmu", hypervisor.ExitStatus{Signal: syscall.SIGKILL}, nil, 137, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errb bytes.Buffer
			code := runResult(&Env{Stderr: &errb}, hypervisor.Stats{}, tc.st, nil, tc.got)
			if code != tc.want {
				t.Errorf("exit status %d, want %d", code, tc.want)
			}
			if reported := strings.Contains(errb.String(), "the program was killed"); reported != tc.reported {
				t.Errorf("stderr %q: the kill reported %v, want %v", errb.String(), reported, tc.reported)
			}
		})
	}
}

// TestRunUnknownSyscalls runs a program that makes 20,000 system calls
// with distinct numbers no x86-64 system call has, and acct, which the
// VMM does not implement: vpmu run reports the first unknown number when
// it happens and the count at the end, two lines for the 20,000 calls.
func TestRunUnknownSyscalls(t *testing.T) {
	prog := metricsGuest(t)
	code, _, errs := vpmuRun(t, nil, "--vcpus", "1", "--", prog, "bogus", "20000")
	if code != 0 {
		t.Fatalf("exit %d (1: a call did not return ENOSYS), stderr:\n%s", code, errs)
	}
	want := "vpmu run: unknown system call number, returning ENOSYS (further unknown numbers are only counted) nr=100000\n" +
		"vpmu run: unimplemented system call, returning ENOSYS nr=163 name=acct\n" +
		"vpmu run: 20000 system calls with unknown numbers in all, the first 100000 (all returned ENOSYS)\n"
	if errs != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errs, want)
	}
}
