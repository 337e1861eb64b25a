package hypervisor

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
)

// hostKernelAtLeast reports whether the host runs Linux major.minor or
// later.
func hostKernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var maj, min int
	if _, err := fmt.Sscanf(string(bytes.TrimRight(u.Release[:], "\x00")), "%d.%d", &maj, &min); err != nil {
		t.Fatalf("parse kernel release %q: %v", u.Release[:], err)
	}
	return maj > major || maj == major && min >= minor
}

// TestMremapProgram runs testdata/mremap.c natively and in the VM on one
// and two VCPUs: shrinking, growing in place, moving with MAYMOVE, FIXED
// and DONTUNMAP keep the contents, old ranges fault afterwards (or read
// zero with DONTUNMAP), the errors are Linux's, and glibc's realloc of a
// large block (which uses mremap) keeps its data, and a thread storing
// into the mapping while it moves loses no store and faults once the
// move has returned, on whichever VCPU it runs. The output must match
// byte for byte, and no system call may be reported unimplemented. The
// native reference needs Linux 6.17 or later, which moves a FIXED range
// spanning several mappings.
func TestMremapProgram(t *testing.T) {
	if !hostKernelAtLeast(t, 6, 17) {
		t.Skip("skipping: the native reference needs Linux 6.17 or later (mremap moves of several mappings)")
	}
	prog := buildC(t, "mremap", "-pthread")
	native := runNativeProgram(t, nil, prog)
	if native.status != 0 || !strings.HasSuffix(native.stdout, "done\n") {
		t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
	}
	for _, vcpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("%dvcpu", vcpus), func(t *testing.T) {
			testutil.MustHaveKVM(t)
			var stdout, stderr bytes.Buffer
			vm, err := New(Config{VCPUs: vcpus, Stdout: &stdout, Stderr: &stderr})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			st, err := vm.Run(ctx, prog, []string{prog})
			if err != nil || st.Int() != 0 {
				t.Errorf("VM run: status %v, %v\nstderr:\n%s", st, err, stderr.String())
			}
			if u := vm.Stats().Unimplemented; len(u) != 0 {
				t.Errorf("unimplemented system calls: %v", u)
			}
			if stdout.String() != native.stdout {
				t.Errorf("VM output differs from native:\n--- VM\n%s--- native\n%s", stdout.String(), native.stdout)
			}
		})
	}
}
