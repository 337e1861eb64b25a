package hypervisor

import (
	"strings"
	"testing"
)

// TestFileOps runs testdata/fsops.c natively and in the VM, in a
// writable directory of its own each time, and compares the output.
func TestFileOps(t *testing.T) {
	prog := buildC(t, "fsops", "-pthread")
	for _, mode := range []string{"files", "pipes", "procself"} {
		t.Run(mode, func(t *testing.T) {
			nativeDir, guestDir := t.TempDir(), t.TempDir()
			nout, nerr, ncode := runNative(t, nil, prog, mode, nativeDir)
			if ncode != 0 || !strings.HasSuffix(nout, "done\n") {
				t.Fatalf("native run failed (exit %d):\n%s%s", ncode, nout, nerr)
			}
			r := runGuest(t, Config{VCPUs: 2, RWDirs: []string{guestDir}}, prog, mode, guestDir)
			if r.err != nil || r.status.Int() != ncode || r.stdout != nout {
				t.Errorf("guest: %v %v\n%s\nstderr: %s\nnative (exit %d):\n%s%s", r.status, r.err, r.stdout, r.stderr, ncode, nout, nerr)
			}
			if len(r.stats.Unimplemented) != 0 || len(r.stats.Denials) != 0 {
				t.Errorf("unimplemented %v, denials %v", r.stats.Unimplemented, r.stats.Denials)
			}
		})
	}
}
