package kvm

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestDecodeExit(t *testing.T) {
	le := binary.LittleEndian
	mk := func(f func(d *[256]byte)) *[256]byte {
		var d [256]byte
		f(&d)
		return &d
	}
	io := DecodeExit(ExitIO, mk(func(d *[256]byte) {
		d[0], d[1] = IODirOut, 1
		le.PutUint16(d[2:], 0x10)
		le.PutUint32(d[4:], 1)
		le.PutUint64(d[8:], 4096)
	}))
	if want := (IOExit{Direction: IODirOut, Size: 1, Port: 0x10, Count: 1, DataOffset: 4096}); io.IO != want {
		t.Errorf("IO exit = %+v, want %+v", io.IO, want)
	}
	mmio := DecodeExit(ExitMMIO, mk(func(d *[256]byte) {
		le.PutUint64(d[0:], 0xfee00000)
		copy(d[8:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
		le.PutUint32(d[16:], 4)
		d[20] = 1
	}))
	if mmio.MMIO.PhysAddr != 0xfee00000 || mmio.MMIO.Len != 4 || !mmio.MMIO.IsWrite || mmio.MMIO.Data[7] != 8 {
		t.Errorf("MMIO exit = %+v", mmio.MMIO)
	}
	dbg := DecodeExit(ExitDebug, mk(func(d *[256]byte) {
		le.PutUint32(d[0:], 1)
		le.PutUint64(d[8:], 0x401000)
		le.PutUint64(d[16:], 0xffff4ff0)
		le.PutUint64(d[24:], 0x400)
	}))
	if want := (DebugExit{Exception: 1, PC: 0x401000, DR6: 0xffff4ff0, DR7: 0x400}); dbg.Debug != want {
		t.Errorf("debug exit = %+v, want %+v", dbg.Debug, want)
	}
	fe := DecodeExit(ExitFailEntry, mk(func(d *[256]byte) {
		le.PutUint64(d[0:], 0x80000021)
		le.PutUint32(d[8:], 1)
	}))
	if fe.FailEntry.HardwareEntryFailureReason != 0x80000021 || fe.FailEntry.CPU != 1 {
		t.Errorf("fail-entry exit = %+v", fe.FailEntry)
	}
	ie := DecodeExit(ExitInternalError, mk(func(d *[256]byte) {
		le.PutUint32(d[0:], InternalErrorEmulation)
		le.PutUint32(d[4:], 2)
		le.PutUint64(d[8:], 7)
		le.PutUint64(d[16:], 9)
	}))
	if ie.Internal.Suberror != InternalErrorEmulation || len(ie.Internal.Data) != 2 || ie.Internal.Data[1] != 9 {
		t.Errorf("internal-error exit = %+v", ie.Internal)
	}
	// A lying ndata is clamped to the 16 words the header has.
	big := DecodeExit(ExitSystemEvent, mk(func(d *[256]byte) {
		le.PutUint32(d[0:], SystemEventCrash)
		le.PutUint32(d[4:], 1000)
	}))
	if big.SystemEvent.Type != SystemEventCrash || len(big.SystemEvent.Data) != maxUnionWords {
		t.Errorf("system-event exit = type %d, %d words", big.SystemEvent.Type, len(big.SystemEvent.Data))
	}
	ex := DecodeExit(ExitException, mk(func(d *[256]byte) {
		le.PutUint32(d[0:], 14)
		le.PutUint32(d[4:], 6)
	}))
	if ex.Exception != (ExceptionExit{Exception: 14, ErrorCode: 6}) {
		t.Errorf("exception exit = %+v", ex.Exception)
	}
	// Reasons without a union member decode to the reason alone.
	if e := DecodeExit(ExitShutdown, mk(func(d *[256]byte) { d[0] = 0xff })); e.IO != (IOExit{}) || e.Reason != ExitShutdown {
		t.Errorf("shutdown exit decoded union data: %+v", e)
	}
}

func TestExitReasonString(t *testing.T) {
	for r, want := range map[ExitReason]string{
		ExitIO:            "KVM_EXIT_IO",
		ExitShutdown:      "KVM_EXIT_SHUTDOWN",
		ExitInternalError: "KVM_EXIT_INTERNAL_ERROR",
		ExitReason(99):    "KVM_EXIT_99",
	} {
		if got := r.String(); got != want {
			t.Errorf("ExitReason(%d) = %q, want %q", uint32(r), got, want)
		}
	}
}

func FuzzDecodeExit(f *testing.F) {
	f.Add(uint32(ExitIO), []byte{1, 1, 0x10, 0, 1, 0, 0, 0})
	f.Add(uint32(ExitInternalError), []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint32(ExitSystemEvent), []byte{3, 0, 0, 0, 16, 0, 0, 0})
	f.Fuzz(func(t *testing.T, reason uint32, b []byte) {
		var d [256]byte
		copy(d[:], b)
		e := DecodeExit(ExitReason(reason), &d)
		if len(e.Internal.Data) > maxUnionWords || len(e.SystemEvent.Data) > maxUnionWords {
			t.Fatalf("decoded more than %d words", maxUnionWords)
		}
		_ = e.Reason.String()
	})
}

func TestClassifyHost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		pvm   bool
		want  HostKind
	}{
		{"intel", []string{"fpu", "vmx", "sse"}, false, HostVMX},
		{"amd", []string{"fpu", "svm"}, false, HostSVM},
		{"pvm by flags", []string{"fpu", "hypervisor", "avx512f"}, false, HostPVM},
		{"pvm by msr", []string{"fpu", "vmx"}, true, HostPVM},
		{"no cpuinfo", nil, false, HostUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyHost(tc.flags, tc.pvm, 0)
			if got.Kind != tc.want || got.Reason == "" {
				t.Errorf("ClassifyHost = %v (%q), want %v with a reason", got.Kind, got.Reason, tc.want)
			}
		})
	}
}

func TestCPUFlags(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme svm avx2\nbogomips\t: 5192\n\nprocessor\t: 1\nflags\t\t: other\n"
	got := CPUFlags(strings.NewReader(in))
	if strings.Join(got, " ") != "fpu vme svm avx2" {
		t.Errorf("CPUFlags = %q", got)
	}
}
