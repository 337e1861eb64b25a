package hypervisor

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// disasm decodes code in 64-bit mode into Intel-syntax instructions
// (x86asm prints a relative jump as its displacement from the end of the
// instruction: "jmp .-0x3" after "hlt" jumps back to the hlt),
// stopping at the first int3 padding byte.
func disasm(t *testing.T, code []byte) []string {
	t.Helper()
	var out []string
	for len(code) > 0 && code[0] != 0xcc {
		inst, err := x86asm.Decode(code, 64)
		if err != nil {
			t.Fatalf("decode % x: %v", code, err)
		}
		out = append(out, x86asm.IntelSyntax(inst, 0, nil))
		code = code[inst.Len:]
	}
	return out
}

func TestSyscallStubDisassembly(t *testing.T) {
	got := disasm(t, syscallStub)
	want := []string{
		fmt.Sprintf("out %#x, al", portSyscall),
		"sysret",
		"hlt",
		"jmp .-0x3",
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("syscall stub disassembles to\n\t%s\nwant\n\t%s", strings.Join(got, "; "), strings.Join(want, "; "))
	}
	// The first instruction is exactly syscallStubOutLen bytes.
	inst, err := x86asm.Decode(syscallStub, 64)
	if err != nil || inst.Len != syscallStubOutLen {
		t.Errorf("first instruction length = %d (%v), want %d", inst.Len, err, syscallStubOutLen)
	}
	// sysret must be the 64-bit form (REX.W), or it would return to
	// compatibility mode.
	inst, _ = x86asm.Decode(syscallStub[syscallStubOutLen:], 64)
	if inst.Op != x86asm.SYSRET || inst.DataSize != 64 && syscallStub[syscallStubOutLen] != 0x48 {
		t.Errorf("second instruction = %v, want sysretq", inst)
	}
}

func TestExceptionStubsDisassembly(t *testing.T) {
	page := buildExceptionStubs()
	if len(page) != numExceptionVectors*excStubSize || len(page) > pageSize {
		t.Fatalf("stub page is %d bytes", len(page))
	}
	for v := 0; v < numExceptionVectors; v++ {
		stub := page[v*excStubSize : (v+1)*excStubSize]
		got := disasm(t, stub)
		var want []string
		if !vectorHasErrorCode(v) {
			want = append(want, "push 0x0")
		}
		want = append(want, fmt.Sprintf("push %#x", v), fmt.Sprintf("out %#x, al", portException), "hlt", "jmp .-0x3")
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("vector %d stub = %q, want %q", v, got, want)
		}
	}
}
