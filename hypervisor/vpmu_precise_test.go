package hypervisor

import (
	"fmt"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/testutil"
)

// TestVPMUPrecise counts a hand-written loop of known length in precise
// mode: the exact number of instructions and branches between the PV
// enable and disable calls, with a REP MOVSB counted once, a PUSHF that
// must not show the VMM's trap flag, and a CALL/RET.
func TestVPMUPrecise(t *testing.T) {
	testutil.MustHaveKVM(t)
	prog := buildC(t, "vpmu_precise")
	for _, n := range []int{1, 1000, 5000} {
		start := time.Now()
		r, c, _, _ := runCounted(t, Config{}, "syscalls,vm-exits-exception", prog, fmt.Sprint(n))
		var instr, branches, tf, sum, copied uint64
		if k, _ := fmt.Sscanf(r.stdout, "instructions %d branches %d tf %d sum %d copied %d", &instr, &branches, &tf, &sum, &copied); k != 5 {
			t.Fatalf("guest: %q", r.stdout)
		}
		if want := uint64(3*n + 18); instr != want {
			t.Errorf("n=%d: %d instructions, want %d", n, instr, want)
		}
		if want := uint64(n + 4); branches != want {
			t.Errorf("n=%d: %d branches, want %d", n, branches, want)
		}
		if tf != 0 {
			t.Errorf("n=%d: the program saw TF set in pushf", n)
		}
		if want := uint64(n * (n + 1) / 2); sum != want || copied != 1 {
			t.Errorf("n=%d: the stepped code computed %d (want %d), copied %d", n, sum, want, copied)
		}
		if vmHost := kvmHostKind(t); vmHost == kvm.HostPVM {
			// One single-step exit per instruction after the enable call,
			// except the SYSCALL that ends the region.
			if exc := c.Total[eventIndex(t, c, "vm-exits-exception")].Raw; exc < instr-1 {
				t.Errorf("n=%d: %d exception exits for %d stepped instructions", n, exc, instr)
			}
		}
		t.Logf("n=%d: %d instructions, %d branches counted exactly in %v", n, instr, branches, time.Since(start))
	}
}

// kvmHostKind returns the kind of KVM host.
func kvmHostKind(t *testing.T) kvm.HostKind {
	t.Helper()
	vm, err := New(Config{VPMU: VPMUConfig{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	return vm.Host().Kind
}

// TestVPMUPreciseWholeProgram counts a whole program in precise mode from
// its first instruction, with the VMM's own counters (VPMUConfig.Precise).
func TestVPMUPreciseWholeProgram(t *testing.T) {
	prog := buildC(t, "vpmu_tiny", "-nostdlib")
	_, c, _, _ := runCounted(t, Config{VPMU: VPMUConfig{Precise: true}}, "instructions,branches,syscalls", prog)
	got := []uint64{c.Total[eventIndex(t, c, "instructions")].Raw, c.Total[eventIndex(t, c, "branches")].Raw}
	if got[0] != 204 || got[1] != 101 {
		t.Errorf("whole program: %d instructions, %d branches; want 204 and 101", got[0], got[1])
	}
}
