package hypervisor

import (
	"context"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
)

// TestVPMUExportTallies checks VCPUExits and Threads against the virtual
// PMU's own per-VCPU counts of the vm-exits events and against the VM's
// Stats, after a run of 4 threads on 2 VCPUs.
func TestVPMUExportTallies(t *testing.T) {
	testutil.MustHaveKVM(t)
	prog := buildC(t, "vpmu_tally")
	var stdout, stderr bytesBuffer
	vm, err := New(Config{VCPUs: 2, PCPUs: 1, Stdout: &stdout, Stderr: &stderr, VPMU: VPMUConfig{
		Spec: pmu.MustParseSpec("vm-exits,vm-exits-io,vm-exits-mmio,vm-exits-exception,vm-exits-interrupt"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	u := vm.VPMU()
	if live, created := u.Threads(); live != 0 || created != 0 {
		t.Errorf("before Run: Threads() = %d, %d; want 0, 0", live, created)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if st, err := vm.Run(ctx, prog, []string{prog, "4"}); err != nil || st.Int() != 0 {
		t.Fatalf("guest: %v %v\n%s", st, err, stderr.String())
	}
	if live, created := u.Threads(); live != 0 || created != 5 {
		t.Errorf("after Run: Threads() = %d, %d; want 0, 5", live, created)
	}
	c := u.Counts()
	exits := u.VCPUExits()
	if len(exits) != 2 {
		t.Fatalf("%d VCPUs, want 2", len(exits))
	}
	var total, io uint64
	for i, e := range exits {
		v := c.VCPUs[i].Values
		want := VCPUExits{VCPU: i, Total: v[0].Raw, IO: v[1].Raw, MMIO: v[2].Raw, Exception: v[3].Raw, Interrupt: v[4].Raw}
		if e != want {
			t.Errorf("VCPU %d: VCPUExits %+v, the counts say %+v", i, e, want)
		}
		if e.IO+e.MMIO+e.Exception+e.Interrupt > e.Total {
			t.Errorf("VCPU %d: the kinds add up to more than the total: %+v", i, e)
		}
		total += e.Total
		io += e.IO
	}
	st := vm.Stats()
	if total != st.Exits {
		t.Errorf("exits over the VCPUs %d, Stats().Exits %d", total, st.Exits)
	}
	if io != st.Syscalls {
		t.Errorf("I/O exits %d, Stats().Syscalls %d: every system call exits through the port", io, st.Syscalls)
	}
}
