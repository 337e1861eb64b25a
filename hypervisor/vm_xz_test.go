package hypervisor

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// compressible returns n bytes of deterministic, mildly compressible
// text: words from a small vocabulary with numbers and noise, so that
// xz and bzip2 do real work (about 3:1).
func compressible(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"virtual", "performance", "counter", "guest", "thread", "vcpu", "pcpu", "switch",
		"sandbox", "granted", "directory", "kernel", "syscall", "page", "table", "shadow"}
	var b bytes.Buffer
	for b.Len() < n {
		switch rng.IntN(8) {
		case 0:
			fmt.Fprintf(&b, "%d ", rng.Uint32())
		case 1:
			b.WriteByte(byte(rng.IntN(256)))
		default:
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(" \n"[rng.IntN(2)])
		}
	}
	return b.Bytes()[:n]
}

// nativeRun runs a host tool with stdin and returns its stdout.
func nativeRun(t *testing.T, dir string, stdin []byte, prog string, args ...string) ([]byte, time.Duration) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("native %s %v: %v\n%s", prog, args, err, errb.String())
	}
	return out.Bytes(), time.Since(start)
}

// guestRun runs prog in a VM with dir granted and as working directory.
func guestRun(t *testing.T, vcpus int, dir string, stdin []byte, prog string, args ...string) (guestResult, time.Duration) {
	t.Helper()
	start := time.Now()
	r := runGuest(t, Config{VCPUs: vcpus, RWDirs: []string{dir}, Dir: dir, Stdin: bytes.NewReader(stdin)}, prog, args...)
	d := time.Since(start)
	if r.err != nil || r.status.Int() != 0 {
		t.Fatalf("guest %s %v: %v %v\n%s", prog, args, r.status, r.err, r.stderr)
	}
	if len(r.stats.Unimplemented) != 0 || len(r.stats.Denials) != 0 {
		t.Errorf("guest %s %v: unimplemented %v, denials %v", prog, args, r.stats.Unimplemented, r.stats.Denials)
	}
	t.Logf("guest %s %v: %d mprotect/mmap invalidations", prog, args, r.stats.Memory.Invalidations)
	return r, d
}

// TestCompressors runs Debian's dynamic xz and bzip2 on a 3 MiB file:
// compressing into a granted directory (file in, file out, with the
// tools' own fchmod/futimens/unlink), decompressing again, and both
// directions through stdin and stdout; every output must be
// byte-identical to the native tools'.
func TestCompressors(t *testing.T) {
	input := compressible(3 << 20)
	for _, tc := range []struct {
		prog, ext string
		vcpus     int
		extra     []string
	}{
		{"/usr/bin/xz", ".xz", 1, nil},
		{"/usr/bin/xz", ".xz", 2, []string{"-T2"}}, // multi-threaded: blocks compressed by two threads
		{"/usr/bin/bzip2", ".bz2", 1, nil},
	} {
		t.Run(fmt.Sprintf("%s-%dvcpu", filepath.Base(tc.prog), tc.vcpus), func(t *testing.T) {
			if _, err := os.Stat(tc.prog); err != nil {
				t.Skipf("skipping: %v", err)
			}
			nativeDir, guestDir := t.TempDir(), t.TempDir()
			for _, d := range []string{nativeDir, guestDir} {
				if err := os.WriteFile(filepath.Join(d, "data"), input, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			args := append(append([]string{}, tc.extra...), "-k", "data")
			_, nd := nativeRun(t, nativeDir, nil, tc.prog, args...)
			_, gd := guestRun(t, tc.vcpus, guestDir, nil, tc.prog, args...)
			want, err := os.ReadFile(filepath.Join(nativeDir, "data"+tc.ext))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(guestDir, "data"+tc.ext))
			if err != nil {
				t.Fatalf("guest output: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("compressed file differs from native: %d vs %d bytes", len(got), len(want))
			}
			// The tools copy the input's mode and modification time (to
			// the second, at least) to the output.
			gi, _ := os.Stat(filepath.Join(guestDir, "data"+tc.ext))
			ii, _ := os.Stat(filepath.Join(guestDir, "data"))
			if gi.Mode() != ii.Mode() || gi.ModTime().Unix() != ii.ModTime().Unix() {
				t.Errorf("output mode/time %v %v, input %v %v", gi.Mode(), gi.ModTime(), ii.Mode(), ii.ModTime())
			}
			t.Logf("compress %d MiB: guest %v, native %v (%d -> %d bytes)", len(input)>>20, gd, nd, len(input), len(got))

			// Decompress the file in place (the tool unlinks the
			// compressed file afterwards).
			if err := os.Remove(filepath.Join(guestDir, "data")); err != nil {
				t.Fatal(err)
			}
			guestRun(t, tc.vcpus, guestDir, nil, tc.prog, "-d", "data"+tc.ext)
			back, err := os.ReadFile(filepath.Join(guestDir, "data"))
			if err != nil || !bytes.Equal(back, input) {
				t.Fatalf("decompressed file differs from the input (%v)", err)
			}
			if _, err := os.Stat(filepath.Join(guestDir, "data"+tc.ext)); !os.IsNotExist(err) {
				t.Errorf("compressed file not removed after -d: %v", err)
			}

			// Pipes: stdin to stdout both ways.
			cargs := append(append([]string{}, tc.extra...), "-c")
			nout, nd := nativeRun(t, nativeDir, input, tc.prog, cargs...)
			r, gd := guestRun(t, tc.vcpus, guestDir, input, tc.prog, cargs...)
			if r.stdout != string(nout) {
				t.Fatalf("%s -c differs from native: %d vs %d bytes", tc.prog, len(r.stdout), len(nout))
			}
			t.Logf("compress stdin->stdout: guest %v, native %v", gd, nd)
			r, gd = guestRun(t, tc.vcpus, guestDir, nout, tc.prog, "-dc")
			if r.stdout != string(input) {
				t.Fatalf("%s -dc output differs from the input (%d bytes)", tc.prog, len(r.stdout))
			}
			t.Logf("decompress stdin->stdout: guest %v", gd)
		})
	}
}
