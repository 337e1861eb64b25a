package hypervisor

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

func TestClassifyExit(t *testing.T) {
	io := func(dir uint8, port uint16, count uint32) kvm.Exit {
		return kvm.Exit{Reason: kvm.ExitIO, IO: kvm.IOExit{Direction: dir, Size: 1, Port: port, Count: count}}
	}
	for _, tc := range []struct {
		name   string
		exit   kvm.Exit
		action exitAction
		kind   CrashKind
		detail string
	}{
		{"syscall stub", io(kvm.IODirOut, portSyscall, 1), actSyscall, 0, ""},
		{"exception stub", io(kvm.IODirOut, portException, 1), actException, 0, ""},
		{"in from the syscall port", io(kvm.IODirIn, portSyscall, 1), actCrash, CrashInternal, "in port 0x10"},
		{"rep out", io(kvm.IODirOut, portSyscall, 4), actCrash, CrashInternal, "count 4"},
		{"other port", io(kvm.IODirOut, 0x80, 1), actCrash, CrashInternal, "out port 0x80"},
		{"signal", kvm.Exit{Reason: kvm.ExitIntr}, actRetry, 0, ""},
		{"triple fault", kvm.Exit{Reason: kvm.ExitShutdown}, actCrash, CrashShutdown, "triple fault"},
		{"entry failure", kvm.Exit{Reason: kvm.ExitFailEntry, FailEntry: kvm.FailEntryExit{HardwareEntryFailureReason: 0x21, CPU: 1}}, actCrash, CrashInternal, "hardware reason 0x21"},
		{"emulation failure", kvm.Exit{Reason: kvm.ExitInternalError, Internal: kvm.InternalExit{Suberror: kvm.InternalErrorEmulation}}, actCrash, CrashInternal, "emulation failed"},
		{"mmio", kvm.Exit{Reason: kvm.ExitMMIO, MMIO: kvm.MMIOExit{PhysAddr: 0xfee00000, Len: 4}}, actCrash, CrashInternal, "0xfee00000"},
		{"hlt", kvm.Exit{Reason: kvm.ExitHLT}, actCrash, CrashInternal, "halted"},
		{"system event", kvm.Exit{Reason: kvm.ExitSystemEvent, SystemEvent: kvm.SystemEventExit{Type: kvm.SystemEventCrash}}, actCrash, CrashInternal, "system event 3"},
		{"debug", kvm.Exit{Reason: kvm.ExitDebug, Debug: kvm.DebugExit{Exception: 1, PC: 0x401000}}, actCrash, CrashInternal, "0x401000"},
		{"unknown", kvm.Exit{Reason: 77}, actCrash, CrashInternal, "KVM_EXIT_77"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := classifyExit(tc.exit)
			if d.action != tc.action || d.kind != tc.kind {
				t.Errorf("classifyExit = action %d kind %v, want %d %v", d.action, d.kind, tc.action, tc.kind)
			}
			if !strings.Contains(d.detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", d.detail, tc.detail)
			}
		})
	}
}

func TestDecodeExcFrame(t *testing.T) {
	b := make([]byte, excFrameSize)
	for i, v := range []uint64{vecPF, 6, 0x401234, selUserCS, 0x10246, 0x7ffff000, selUserDS} {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	f := decodeExcFrame(b)
	want := excFrame{vector: vecPF, errorCode: 6, rip: 0x401234, cs: selUserCS, rflags: 0x10246, rsp: 0x7ffff000, ss: selUserDS}
	if f != want {
		t.Errorf("frame = %+v, want %+v", f, want)
	}
	if got := pageFaultCause(6); got != "page not present, write" {
		t.Errorf("pageFaultCause(6) = %q", got)
	}
	if got := pageFaultCause(0x15); got != "protection violation, instruction fetch" {
		t.Errorf("pageFaultCause(0x15) = %q", got)
	}
}

func TestFaultSignal(t *testing.T) {
	for v, want := range map[int]syscall.Signal{
		vecDE: syscall.SIGFPE, vecDB: syscall.SIGTRAP, vecBP: syscall.SIGTRAP, vecUD: syscall.SIGILL,
		vecGP: syscall.SIGSEGV, vecPF: syscall.SIGSEGV, vecAC: syscall.SIGBUS, vecXM: syscall.SIGFPE,
		vecMF: syscall.SIGFPE, vecSS: syscall.SIGBUS, vecNP: syscall.SIGBUS,
	} {
		if got := faultSignal(v); got != want {
			t.Errorf("faultSignal(%s) = %v, want %v", vectorName(v), got, want)
		}
	}
}

// TestTripleFault breaks the IDT on purpose: the guest's first fault can
// then not be delivered, KVM reports a shutdown, and the VMM must report
// it as a crash and stay healthy.
func TestTripleFault(t *testing.T) {
	prog := buildC(t, "crash")
	vm, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	idt, err := vm.m.mm.hostBytes(idtGVA, pageSize)
	if err != nil {
		t.Fatal(err)
	}
	clear(idt)
	st, err := vm.Run(context.Background(), prog, []string{prog, "segv"})
	var c *GuestCrash
	if !errors.As(err, &c) || c.Kind != CrashShutdown {
		t.Fatalf("err = %v, want a shutdown GuestCrash", err)
	}
	if st.Signal == 0 {
		t.Errorf("status %v, want death by a signal", st)
	}
	t.Logf("%v", c)
}
