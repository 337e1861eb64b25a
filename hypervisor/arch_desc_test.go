package hypervisor

import (
	"encoding/binary"
	"testing"
)

func TestGDTMatchesLinux(t *testing.T) {
	gdt := buildGDT()
	le := binary.LittleEndian
	// The values Linux's GDT_ENTRY_INIT produces for its x86-64 GDT
	// (arch/x86/kernel/cpu/common.c), with the accessed bit set.
	for _, tc := range []struct {
		sel  int
		want uint64
	}{
		{0, 0},
		{selKernelCS32, 0x00cf9b000000ffff},
		{selKernelCS, 0x00af9b000000ffff},
		{selKernelDS, 0x00cf93000000ffff},
		{selUserCS32, 0x00cffb000000ffff},
		{selUserDS, 0x00cff3000000ffff},
		{selUserCS, 0x00affb000000ffff},
	} {
		if got := le.Uint64(gdt[tc.sel&^7:]); got != tc.want {
			t.Errorf("GDT[%#x] = %#016x, want %#016x", tc.sel, got, tc.want)
		}
	}
	lo, hi := le.Uint64(gdt[selTSS:]), le.Uint64(gdt[selTSS+8:])
	base := (lo>>16)&0xffffff | (lo>>56&0xff)<<24 | hi<<32
	if base != tssBase(0) {
		t.Errorf("TSS descriptor base = %#x, want %#x", base, tssBase(0))
	}
	if typ := lo >> 40 & 0xff; typ != 0x89 {
		t.Errorf("TSS descriptor access byte = %#x, want 0x89 (present, available 64-bit TSS)", typ)
	}
	if limit := lo&0xffff | (lo>>48&0xf)<<16; limit != tssLimit {
		t.Errorf("TSS descriptor limit = %d, want %d", limit, tssLimit)
	}
	// STAR: SYSRET loads CS = STAR[63:48]+16 and SS = STAR[63:48]+8.
	if sysretCS, sysretSS := starValue>>48+16, starValue>>48+8; sysretCS != selUserCS || sysretSS != selUserDS {
		t.Errorf("SYSRET would load CS %#x SS %#x", sysretCS, sysretSS)
	}
	if syscallCS := starValue >> 32 & 0xffff; syscallCS != selKernelCS {
		t.Errorf("SYSCALL would load CS %#x", syscallCS)
	}
}

func TestIDTCoversAllExceptions(t *testing.T) {
	idt := buildIDT()
	le := binary.LittleEndian
	for v := 0; v < 256; v++ {
		g := idt[16*v : 16*v+16]
		present := g[5]&0x80 != 0
		if v >= numExceptionVectors {
			if present {
				t.Errorf("vector %d present", v)
			}
			continue
		}
		if !present || g[5]&0xf != gateInterrupt {
			t.Errorf("vector %d: type byte %#x, want a present interrupt gate", v, g[5])
		}
		handler := uint64(le.Uint16(g[0:])) | uint64(le.Uint16(g[6:]))<<16 | uint64(le.Uint32(g[8:]))<<32
		if want := excStubGVA + uint64(v)*excStubSize; handler != want {
			t.Errorf("vector %d handler %#x, want %#x", v, handler, want)
		}
		if sel := le.Uint16(g[2:]); sel != selKernelCS {
			t.Errorf("vector %d selector %#x", v, sel)
		}
		wantDPL, wantIST := byte(0), byte(istDefault)
		if v == vecBP || v == vecOF {
			wantDPL = 3
		}
		if v == vecDF {
			wantIST = istDoubleFault
		}
		if dpl := g[5] >> 5 & 3; dpl != wantDPL {
			t.Errorf("vector %d DPL %d, want %d", v, dpl, wantDPL)
		}
		if ist := g[4] & 7; ist != wantIST {
			t.Errorf("vector %d IST %d, want %d", v, ist, wantIST)
		}
	}
}

func TestTSSIOBitmap(t *testing.T) {
	ist1, ist2 := stackTops(3)
	tss := buildTSS(ist1, ist1, ist2)
	le := binary.LittleEndian
	if got := le.Uint64(tss[tssRSP0Off:]); got != ist1 {
		t.Errorf("RSP0 = %#x", got)
	}
	if got := le.Uint64(tss[tssIST1Off+8:]); got != ist2 {
		t.Errorf("IST2 = %#x", got)
	}
	if len(tss) > tssSlot {
		t.Fatalf("TSS is %d bytes, slot is %d", len(tss), tssSlot)
	}
	base := int(le.Uint16(tss[tssIOBaseOff:]))
	// allowed reports what the CPU decides for a one-byte OUT at CPL 3.
	allowed := func(port int) bool {
		off := base + port/8
		if off+1 > tssLimit { // the CPU reads two bytes within the limit
			return false
		}
		return tss[off]&(1<<(port%8)) == 0
	}
	for port := 0; port < 0x10000; port++ {
		if got, want := allowed(port), port == portSyscall; got != want {
			t.Errorf("port %#x allowed at CPL 3 = %v, want %v", port, got, want)
		}
	}
	if tss[len(tss)-1] != 0xff {
		t.Error("I/O bitmap is not followed by a 0xff byte")
	}
	if ist1 <= ist2 || ist1-ist2 != pageSize || ist2 < stacksGVA || ist1 > vmmEnd {
		t.Errorf("stack tops %#x/%#x outside the VMM area", ist1, ist2)
	}
}
