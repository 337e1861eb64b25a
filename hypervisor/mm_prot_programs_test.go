package hypervisor

import (
	"fmt"
	"strings"
	"testing"
)

// TestMemprotProgram runs testdata/memprot.c natively and in the VM on
// one and two VCPUs: guest loads, stores and instruction fetches after
// munmap, mprotect, MAP_FIXED and brk fault with the si_code and si_addr
// Linux gives, the data of write-protected pages survives, guard pages
// fault, and a thread touching a page while another takes access away
// faults once the system call has returned. The output must match byte
// for byte.
func TestMemprotProgram(t *testing.T) {
	prog := buildC(t, "memprot", "-pthread")
	native := runNativeProgram(t, nil, prog)
	if native.status != 0 || !strings.HasSuffix(native.stdout, "done\n") {
		t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
	}
	for _, vcpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("%dvcpu", vcpus), func(t *testing.T) {
			got := runVMProgram(t, Config{VCPUs: vcpus}, prog)
			if got.err != nil || got.status != 0 {
				t.Errorf("VM run: status %d, %v\nstderr:\n%s", got.status, got.err, got.stderr)
			}
			if got.stats.Memory.Invalidations == 0 {
				t.Errorf("no invalidations counted: mprotect took no access away")
			}
			if got.stdout != native.stdout {
				t.Errorf("VM output differs from native:\n--- VM\n%s--- native\n%s", got.stdout, native.stdout)
			}
		})
	}
}
