package hypervisor

import (
	"errors"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu/virt"
)

// TestPVSetPeriod checks PVSetPeriod's refusals and a delivery, without
// KVM: a counter opened with the signal flag samples the thread's system
// calls, and an overflow queues the thread's signal with the slot and the
// overflows in si_value.
func TestPVSetPeriod(t *testing.T) {
	_, v, th, mem := fakeVPMU(t)
	open := func(spec string, flags uint64) []int {
		t.Helper()
		if err := th.MM().CopyOut(mem, []byte(spec)); err != nil {
			t.Fatal(err)
		}
		n, err := pvDo(th, SyscallArgs{virt.PVOpen, mem, uint64(len(spec)), flags, mem + 0x1000, 16})
		if err != nil {
			t.Fatalf("open %s: %v", spec, err)
		}
		var slots []int
		for i := range n {
			s, _ := th.MM().ReadUint32(mem + 0x1000 + 4*i)
			slots = append(slots, int(s))
		}
		return slots
	}
	plain := open("syscalls", 0)
	sig := open("syscalls,task-clock", virt.PVOpenSignal)
	for _, tc := range []struct {
		name               string
		slot, period, sign uint64
		errno              unix.Errno
	}{
		{"slot not open", 15, 10, 0, unix.EBADF},
		{"slot out of range", 99, 10, 0, unix.EBADF},
		{"without the signal flag", uint64(plain[1]), 10, 0, unix.EINVAL},
		{"time slot", uint64(sig[0]), 10, 0, unix.EINVAL},
		{"SIGKILL", uint64(sig[1]), 10, 9, unix.EINVAL},
		{"signal 65", uint64(sig[1]), 10, 65, unix.EINVAL},
		{"task-clock below 10 µs", uint64(sig[3]), 9999, 0, unix.EINVAL},
		{"task-clock every 2^63 ns", uint64(sig[3]), 1 << 63, 0, unix.EINVAL},
		{"syscalls every 2^64-1", uint64(sig[1]), ^uint64(0), 0, unix.EINVAL},
		{"task-clock every 10 µs", uint64(sig[3]), 10000, 0, 0},
		{"syscalls every 3", uint64(sig[1]), 3, 0, 0},
	} {
		_, err := pvDo(th, SyscallArgs{virt.PVSetPeriod, tc.slot, tc.period, tc.sign})
		if tc.errno == 0 && err != nil || tc.errno != 0 && !errors.Is(err, tc.errno) {
			t.Errorf("%s: %v, want %v (last error %q)", tc.name, err, tc.errno, th.pmu.lastErr)
		}
	}
	c := v.pmu
	// The set-period calls above were not counted (the counter has no
	// VMM to tally them here): three calls now cross the threshold.
	for range 3 {
		c.add(srcSyscalls, 1)
	}
	v.deliverOverflows(th, 0x401000, 0, 0)
	if !th.signalPending() {
		t.Fatal("no signal pending after an overflow")
	}
	info, _, ok := th.nextSignal()
	if !ok || info.signo != sigPROF || info.code != virt.PVSignalCode || info.value != uint64(sig[1])|1<<32 {
		t.Fatalf("signal %+v, want SIGPROF code %#x value slot %d | 1<<32", info, virt.PVSignalCode, sig[1])
	}
	if _, err := pvDo(th, SyscallArgs{virt.PVSetPeriod, uint64(sig[1]), 0, 0}); err != nil {
		t.Fatalf("period 0: %v", err)
	}
	for range 10 {
		c.add(srcSyscalls, 1)
	}
	v.deliverOverflows(th, 0x401000, 0, 0)
	if th.signalPending() {
		t.Fatal("a signal after the period was set to 0")
	}
}
