package hypervisor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu/virt"
)

func TestCalibStubDisassembly(t *testing.T) {
	got := strings.Join(disasm(t, calibStub), "; ")
	read := "rdtsc; shl rdx, 0x20; or rdx, rax; "
	want := read + "mov rdi, rdx; " + read + "mov rsi, rdx; " + fmt.Sprintf("out %#x, al", portSyscall) + "; hlt; jmp .-0x3"
	if got != want {
		t.Errorf("calibration stub disassembles to\n\t%s\nwant\n\t%s", got, want)
	}
}

// synthSamples makes calibration samples for a guest whose TSC is the
// host's plus off, with the given entry and exit costs.
func synthSamples(off int64, entry, exit []uint64) []calibSample {
	var s []calibSample
	h := uint64(1 << 40)
	for i := range entry {
		g1 := h + entry[i] + uint64(off)
		g2 := g1 + 60
		s = append(s, calibSample{hEnter: h, gEnter: g1, gExit: g2, hExit: g2 - uint64(off) + exit[i]})
		h += 200000
	}
	return s
}

func TestFitCalibration(t *testing.T) {
	entry := []uint64{34000, 35000, 34500, 150000, 34200, 34100, 36000, 33900, 34800, 149000}
	exit := []uint64{31000, 30500, 31200, 30900, 32000, 31500, 30700, 31100, 98000, 30600}
	for _, tc := range []struct {
		name    string
		off     int64
		pvm     bool
		msr     int64
		haveMSR bool
		wantOff int64
	}{
		{"PVM: guest TSC is the host's", 0, true, 3000, true, 0},
		{"VMX: offset from IA32_TSC", -1 << 40, false, -1<<40 + 500, true, -1<<40 + 500},
		{"VMX: IA32_TSC estimate clamped into the feasible range", 5000000, false, 5000000 + 40000, true, 5000000 + 33900},
		{"no IA32_TSC: 0 is feasible", 0, false, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fitCalibration(synthSamples(tc.off, entry, exit), tc.pvm, tc.msr, tc.haveMSR)
			if c.Warning != "" || c.Offset != tc.wantOff {
				t.Fatalf("offset %d (warning %q), want %d", c.Offset, c.Warning, tc.wantOff)
			}
			// Every sample's guest readings lie inside its run.
			for _, s := range synthSamples(tc.off, entry, exit) {
				if int64(s.gEnter-s.hEnter) < c.Offset || int64(s.gExit-s.hExit) > c.Offset {
					t.Fatalf("sample %+v outside its run with offset %d", s, c.Offset)
				}
			}
			if exitBound(c.Exit.Min) != c.ExitMinTicks || c.ExitMinTicks > c.ExitTicks || c.Entry.Min > c.EntryTicks {
				t.Errorf("costs %+v", c)
			}
		})
	}
	exact := fitCalibration(synthSamples(0, entry, exit), true, 0, false)
	if exact.Entry.Min != 33900 || exact.Entry.Max != 150000 || exact.Exit.Min != 30500 || exact.Exit.Median != 31100 {
		t.Errorf("stats %+v %+v", exact.Entry, exact.Exit)
	}
	// The mean leaves out the top 1%: with 10 samples, nothing.
	var sum uint64
	for _, e := range entry {
		sum += e
	}
	if exact.EntryTicks != sum/10 {
		t.Errorf("mean entry %d, want %d", exact.EntryTicks, sum/10)
	}
	// Readings that no offset can explain give a warning, not a failure.
	bad := synthSamples(0, entry, exit)
	bad[3].gEnter = bad[3].hEnter - 100000
	if c := fitCalibration(bad, true, 0, false); c.Warning == "" {
		t.Errorf("inconsistent samples fitted without a warning: %+v", c)
	}
	if c := fitCalibration(nil, true, 0, false); c.Warning == "" {
		t.Error("no samples fitted without a warning")
	}
}

func TestTSCScale(t *testing.T) {
	for _, khz := range []uint64{1, 999, 1000000, 2596148, 3000000, 5200000} {
		mult, shift := tscScale(khz)
		for _, ticks := range []uint64{1e6, 1e9, 1e12} {
			want := float64(ticks) * 1e6 / float64(khz)
			got := float64(virt.TicksToNanos(ticks, mult, shift))
			if d := got - want; d > want*1e-6+1 || d < -want*1e-6-1 {
				t.Errorf("%d kHz: %d ticks = %.0f ns, want %.0f", khz, ticks, got, want)
			}
		}
	}
	if m, s := tscScale(0); m != 0 || s != 0 {
		t.Errorf("tscScale(0) = %d, %d", m, s)
	}
}

// TestCalibrateOnKVM calibrates a real VM and checks the result is
// consistent.
func TestCalibrateOnKVM(t *testing.T) {
	testutil.MustHaveKVM(t)
	vm, err := New(Config{VPMU: VPMUConfig{CalibrationSamples: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	c := vm.VPMU().Calibration()
	t.Logf("%s host: %+v", vm.Host().Kind, c)
	if c.Samples != 100 || c.TSCKHz < 100000 || c.Warning != "" {
		t.Fatalf("calibration %+v", c)
	}
	if vm.Host().Kind == kvm.HostPVM && c.Offset != 0 {
		t.Errorf("PVM guest TSC offset %d, want 0", c.Offset)
	}
	if c.Entry.Min == 0 || c.Exit.Min == 0 || c.ExitMinTicks > c.ExitTicks {
		t.Errorf("entry %+v exit %+v", c.Entry, c.Exit)
	}
	if d := c.Nanos(c.TSCKHz * 1000); d < 999*time.Millisecond || d > 1001*time.Millisecond {
		t.Errorf("one second of ticks is %v", d)
	}
}

func TestVPMUCPUID(t *testing.T) {
	ents := []kvm.CPUIDEntry{{Function: 0}, {Function: cpuidHypervisor, EBX: 0x4b4d564b}, {Function: cpuidVPMU, EAX: 0xff}, {Function: 7}}
	out := vpmuCPUID(ents, true)
	var sig []byte
	var leaf kvm.CPUIDEntry
	n := 0
	for _, e := range out {
		switch e.Function {
		case cpuidHypervisor:
			n++
			for _, r := range []uint32{e.EBX, e.ECX, e.EDX} {
				sig = append(sig, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
			}
			if e.EAX != cpuidVPMU {
				t.Errorf("max hypervisor leaf %#x", e.EAX)
			}
		case cpuidVPMU:
			n++
			leaf = e
		}
	}
	if n != 2 || string(sig) != cpuidSignature || len(out) != 4 {
		t.Errorf("leaves %+v", out)
	}
	if leaf.EAX != virt.PVSyscall || leaf.EBX != virt.ABIVersion {
		t.Errorf("vpmu leaf %+v", leaf)
	}
	if off := vpmuCPUID(ents, false); off[len(off)-1].EAX != 0 {
		t.Errorf("virtual PMU off still advertises the paravirtual call: %+v", off)
	}
}
