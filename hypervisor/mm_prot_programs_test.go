package hypervisor

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
)

// TestMemprotProgram runs testdata/memprot.c natively and in the VM on
// one and two VCPUs: guest loads, stores and instruction fetches after
// munmap, mprotect, MAP_FIXED and brk fault with the si_code and si_addr
// Linux gives, the data of write-protected pages survives, guard pages
// fault, and a thread touching a page while another takes access away
// faults once the system call has returned. The output must match byte
// for byte. The read-flip run uses invalidate's fallback for hosts that
// refuse PROT_EXEC, whose EFAULTs the VCPU loop must absorb.
func TestMemprotProgram(t *testing.T) {
	prog := buildC(t, "memprot", "-pthread")
	native := runNativeProgram(t, nil, prog)
	if native.status != 0 || !strings.HasSuffix(native.stdout, "done\n") {
		t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
	}
	for _, tc := range []struct {
		vcpus    int
		readFlip bool
	}{{1, false}, {2, false}, {2, true}} {
		name := fmt.Sprintf("%dvcpu", tc.vcpus)
		if tc.readFlip {
			name += "-readflip"
		}
		t.Run(name, func(t *testing.T) {
			testutil.MustHaveKVM(t)
			var stdout, stderr bytes.Buffer
			vm, err := New(Config{VCPUs: tc.vcpus, Stdout: &stdout, Stderr: &stderr})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			vm.m.mm.phys.readFlip = tc.readFlip
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			st, err := vm.Run(ctx, prog, []string{prog})
			if err != nil || st.Int() != 0 {
				t.Errorf("VM run: status %v, %v\nstderr:\n%s", st, err, stderr.String())
			}
			if vm.Stats().Memory.Invalidations == 0 {
				t.Errorf("no invalidations counted: mprotect took no access away")
			}
			if stdout.String() != native.stdout {
				t.Errorf("VM output differs from native:\n--- VM\n%s--- native\n%s", stdout.String(), native.stdout)
			}
		})
	}
}
