package hypervisor

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/virt"
)

// noHostPMU is a host without a PMU, for tests that must not depend on
// the machine.
type noHostPMU struct{}

func (noHostPMU) probe(e pmu.Event) error {
	return &pmu.NotSupportedError{Event: e.String(), Reason: pmu.ReasonNoHardwarePMU}
}
func (noHostPMU) open(pmu.Event) (pmuHostCounter, error) { return nil, errors.New("no host PMU") }

// fakeVPMU is a virtual PMU without KVM: one VCPU page and the thread of
// a fake process, switched onto the VCPU and out of guest mode, as during
// a system call. mem is a 16-page guest buffer.
func fakeVPMU(t testing.TB) (*vpmu, *vcpu, *Thread, uint64) {
	t.Helper()
	th, mem := newFakeProcess(t)
	vm := th.proc.vm
	p := &vpmu{vm: vm, kind: kvm.HostPVM, host: noHostPMU{}, spec: specState{timeSlot: -1}}
	p.calib.TSCMult, p.calib.TSCShift = tscScale(2600000)
	if err := p.mapVCPUPages(1); err != nil {
		t.Fatal(err)
	}
	c := newVPMUVCPU(p, 0, p.vcpuPages[0])
	p.vcpus = []*vpmuVCPU{c}
	v := &vcpu{vm: vm, id: 0, pmu: c, run: new(kvm.Run)}
	vm.pmu = p
	if err := p.attachMain(th); err != nil {
		t.Fatal(err)
	}
	th.vcpu = v
	th.pmu.switchIn(c)
	return p, v, th, mem
}

// pvDo runs a paravirtual call with registers a.
func pvDo(th *Thread, a SyscallArgs) (uint64, error) { return th.pvCall(a) }

func TestPVOperations(t *testing.T) {
	p, _, th, mem := fakeVPMU(t)
	spec := "{syscalls,vm-exits},task-clock"
	if err := th.MM().CopyOut(mem, []byte(spec)); err != nil {
		t.Fatal(err)
	}
	slotsAt, valsAt, errAt := mem+0x1000, mem+0x2000, mem+0x3000
	if r, err := pvDo(th, SyscallArgs{virt.PVProbe}); err != nil || r != virt.PVMagic<<16|virt.ABIVersion {
		t.Fatalf("probe: %#x %v", r, err)
	}
	if r, err := pvDo(th, SyscallArgs{virt.PVInfo}); err != nil || r != th.pmu.gva {
		t.Fatalf("info: %#x %v, thread page %#x", r, err, th.pmu.gva)
	}
	n, err := pvDo(th, SyscallArgs{virt.PVOpen, mem, uint64(len(spec)), 0, slotsAt, 16})
	if err != nil || n != 5 {
		t.Fatalf("open: %d %v", n, err)
	}
	raw := make([]byte, 4*n)
	th.MM().CopyIn(slotsAt, raw)
	var slots []int
	for i := range n {
		slots = append(slots, int(binary.LittleEndian.Uint32(raw[4*i:])))
	}
	read := func(flags uint64) []uint64 {
		t.Helper()
		if _, err := pvDo(th, SyscallArgs{virt.PVRead, slotsAt, n, valsAt, flags}); err != nil {
			t.Fatalf("read: %v", err)
		}
		b := make([]byte, 8*n)
		th.MM().CopyIn(valsAt, b)
		vals := make([]uint64, n)
		for i := range vals {
			vals[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		return vals
	}
	c := p.vcpus[0]
	c.add(srcSyscalls, 3)
	c.add(srcExits, 5)
	if v := read(0); v[1] != 3 || v[2] != 5 {
		t.Errorf("after 3 system calls and 5 exits: %v", v)
	}
	ctl := func(op uint64, slots ...int) error {
		b := make([]byte, 4*len(slots))
		for i, s := range slots {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(s))
		}
		th.MM().CopyOut(mem+0x4000, b)
		_, err := pvDo(th, SyscallArgs{op, mem + 0x4000, uint64(len(slots))})
		return err
	}
	if err := ctl(virt.PVDisable, slots[1]); err != nil {
		t.Fatal(err)
	}
	c.add(srcSyscalls, 10)
	if v := read(0); v[1] != 3 {
		t.Errorf("disabled counter moved: %v", v)
	}
	if err := ctl(virt.PVEnable, slots[1]); err != nil {
		t.Fatal(err)
	}
	c.add(srcSyscalls, 1)
	if err := ctl(virt.PVReset, slots[2]); err != nil {
		t.Fatal(err)
	}
	if v := read(0); v[1] != 4 || v[2] != 0 {
		t.Errorf("after enable, one more call and a reset of vm-exits: %v", v)
	}
	if err := ctl(virt.PVClose, slots...); err != nil {
		t.Fatal(err)
	}
	if _, err := pvDo(th, SyscallArgs{virt.PVRead, slotsAt, n, valsAt}); !errors.Is(err, unix.EBADF) {
		t.Errorf("read of closed slots: %v", err)
	}
	lastErr := func() string {
		l, err := pvDo(th, SyscallArgs{virt.PVLastError, errAt, 200})
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, min(l, 200))
		th.MM().CopyIn(errAt, b)
		return string(b)
	}
	if msg := lastErr(); !strings.Contains(msg, "not open") {
		t.Errorf("last error %q", msg)
	}
	// Errors, each with its errno and its text.
	th.MM().CopyOut(mem, []byte("cycles,syscalls"))
	th.MM().CopyOut(mem+0x800, []byte("instructions"))
	for _, tc := range []struct {
		a     SyscallArgs
		errno unix.Errno
		text  string
	}{
		{SyscallArgs{virt.PVOpen, mem, 15, 0, slotsAt, 16}, unix.EOPNOTSUPP, `event "cycles" not supported: no hardware PMU`},
		{SyscallArgs{virt.PVOpen, mem + 0x800, 12, 0, slotsAt, 16}, unix.EOPNOTSUPP, "precise mode"},
		{SyscallArgs{virt.PVOpen, mem, 9, 0, slotsAt, 16}, unix.EINVAL, `unknown event "sy"`},
		{SyscallArgs{virt.PVOpen, mem + 7, 8, 0, slotsAt, 1}, unix.EINVAL, "holds 1 slots"},
		{SyscallArgs{virt.PVOpen, mem + 7, 8, 1 << 9, slotsAt, 16}, unix.EINVAL, "unknown flags"},
		{SyscallArgs{virt.PVOpen, 0, 8, 0, slotsAt, 16}, unix.EFAULT, "not readable"},
		{SyscallArgs{virt.PVOpen, mem + 7, 8, 0, 0x10, 16}, unix.EFAULT, "not writable"},
		{SyscallArgs{virt.PVOpen, mem, 0, 0, slotsAt, 16}, unix.EINVAL, "spec length"},
		{SyscallArgs{virt.PVRead, slotsAt, 0, valsAt}, unix.EINVAL, "slots"},
		{SyscallArgs{99}, unix.EINVAL, "unknown operation"},
	} {
		_, err := pvDo(th, tc.a)
		if !errors.Is(err, tc.errno) {
			t.Errorf("%v: %v, want %v", tc.a, err, tc.errno)
			continue
		}
		if msg := lastErr(); !strings.Contains(msg, tc.text) {
			t.Errorf("%v: last error %q, want it to say %q", tc.a, msg, tc.text)
		}
	}
}

func TestPVSlotsExhausted(t *testing.T) {
	_, _, th, mem := fakeVPMU(t)
	spec := "{syscalls,vm-exits,signals}"
	th.MM().CopyOut(mem, []byte(spec))
	open := func() error {
		_, err := pvDo(th, SyscallArgs{virt.PVOpen, mem, uint64(len(spec)), 0, mem + 0x1000, 16})
		return err
	}
	for i := 0; i < virt.MaxCounters/4; i++ {
		if err := open(); err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	if err := open(); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("open beyond %d slots: %v", virt.MaxCounters, err)
	}
}

func TestPVOffIsENOSYS(t *testing.T) {
	th, _ := newFakeProcess(t)
	if _, err := th.dispatchSyscall(virt.PVSyscall, SyscallArgs{virt.PVProbe}); !errors.Is(err, unix.ENOSYS) {
		t.Errorf("probe with the virtual PMU off: %v, want ENOSYS as on Linux", err)
	}
}

// FuzzPVCall throws random registers and guest memory at the
// paravirtual call: it must never panic, and must fail with an errno
// from the documented set.
func FuzzPVCall(f *testing.F) {
	f.Add(uint64(virt.PVOpen), uint64(0), uint64(8), uint64(2), uint64(0x1000), uint64(16), []byte("syscalls"))
	f.Add(uint64(virt.PVRead), uint64(0), uint64(2), uint64(0x100), uint64(1), uint64(0), []byte{0, 0, 0, 0, 1, 0, 0, 0})
	f.Add(uint64(virt.PVClose), uint64(0), uint64(1), uint64(0), uint64(0), uint64(0), []byte{0xff, 0xff, 0xff, 0x7f})
	f.Add(uint64(virt.PVLastError), uint64(0), uint64(1<<40), uint64(0), uint64(0), uint64(0), []byte{})
	f.Add(uint64(virt.PVOpen), uint64(0), uint64(12), uint64(4), uint64(0x1000), uint64(16), []byte("instructions"))
	f.Fuzz(func(t *testing.T, op, a1, a2, a3, a4, a5 uint64, mem []byte) {
		_, _, th, base := fakeVPMU(t)
		if len(mem) > 0x1000 {
			mem = mem[:0x1000]
		}
		th.MM().CopyOut(base, mem)
		// Pointers near the buffer most of the time, anywhere otherwise.
		ptr := func(x uint64) uint64 {
			if x&1 == 0 {
				return base + x%0x10000
			}
			return x
		}
		a := SyscallArgs{op % 12, ptr(a1), a2, a3, ptr(a4), a5}
		if a[0] == virt.PVRead {
			a[3] = ptr(a3)
		}
		_, err := th.pvCall(a)
		if err == nil {
			return
		}
		var e unix.Errno
		if !errors.As(err, &e) {
			t.Fatalf("%v: error %v is not an errno", a, err)
		}
		switch e {
		case unix.EINVAL, unix.EFAULT, unix.EBADF, unix.EOPNOTSUPP, unix.ENOSPC:
		default:
			t.Fatalf("%v: errno %v outside the documented set", a, e)
		}
	})
}

// fakeHostPMU has a PMU whose counters the test moves.
type fakeHostPMU struct{ counts map[string]*uint64 }

func (f *fakeHostPMU) probe(e pmu.Event) error {
	if e.Exclude&pmu.ExcludeHost == 0 {
		return errors.New("not guest-only")
	}
	return nil
}

func (f *fakeHostPMU) open(e pmu.Event) (pmuHostCounter, error) {
	n := new(uint64)
	f.counts[e.Name] = n
	return fakeHostCounter{n}, nil
}

type fakeHostCounter struct{ n *uint64 }

func (c fakeHostCounter) read() (uint64, error) { return *c.n, nil }
func (c fakeHostCounter) close() error          { return nil }

// TestHostCounterFolding counts a hardware event through a (fake) host
// PMU: the host count is folded in at thread switches and PV reads and
// attributed to the thread that ran.
func TestHostCounterFolding(t *testing.T) {
	p, _, th, mem := fakeVPMU(t)
	host := &fakeHostPMU{counts: map[string]*uint64{}}
	p.host = host
	spec := "cycles"
	th.MM().CopyOut(mem, []byte(spec))
	n, err := pvDo(th, SyscallArgs{virt.PVOpen, mem, uint64(len(spec)), 0, mem + 0x1000, 16})
	if err != nil || n != 2 {
		t.Fatalf("open cycles with a host PMU: %d %v", n, err)
	}
	cycles := host.counts["cycles"]
	if cycles == nil {
		t.Fatal("no host counter opened on the VCPU")
	}
	read := func() uint64 {
		if _, err := pvDo(th, SyscallArgs{virt.PVRead, mem + 0x1000, 2, mem + 0x2000}); err != nil {
			t.Fatal(err)
		}
		v, _ := th.MM().ReadUint64(mem + 0x2008)
		return v
	}
	*cycles += 1000 // the thread runs in guest mode
	if got := read(); got != 1000 {
		t.Errorf("PV read %d cycles, want 1000 (folded at the read)", got)
	}
	c := p.vcpus[0]
	th.pmu.switchOut(c, SwitchYield)
	*cycles += 500 // another thread runs on the VCPU
	th.pmu.switchIn(c)
	*cycles += 7
	th.pmu.switchOut(c, SwitchYield)
	if v := th.pmu.ownValue(1); v != 1007 {
		t.Errorf("after a switch: %d cycles, want 1007 (not the other thread's 500)", v)
	}
	if v := c.value(srcHostFirst); v != 1507 {
		t.Errorf("the VCPU counted %d cycles, want 1507", v)
	}
}
