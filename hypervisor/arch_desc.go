package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// Descriptor encodings (Intel SDM vol. 3A, 3.4.5 and 6.14.1). All pure:
// they fill byte slices that the VMM copies into the VMM area.

// Access-byte bits of code/data segment descriptors.
const (
	descAccessed = 1 << 0
	descRW       = 1 << 1 // readable code / writable data
	descExec     = 1 << 3
	descS        = 1 << 4 // code or data (not system)
	descDPL3     = 3 << 5
	descPresent  = 1 << 7

	// flags nibble
	descL  = 1 << 1 // 64-bit code
	descDB = 1 << 2 // 32-bit default size
	descG  = 1 << 3 // 4 KiB granularity

	// System-segment types.
	sysTSSAvailable = 0x9
	sysTSSBusy      = 0xb
	gateInterrupt   = 0xe
)

// segDesc encodes an 8-byte code or data descriptor with base 0 and a
// 4 GiB limit. The accessed bit is preset so the CPU never writes the
// (read-only) GDT page.
func segDesc(access, flags uint8) uint64 {
	const limit = 0xfffff
	d := uint64(limit & 0xffff)
	d |= uint64(access|descAccessed) << 40
	d |= uint64(limit>>16) << 48
	d |= uint64(flags) << 52
	return d
}

// tssDesc encodes the 16-byte 64-bit TSS descriptor.
func tssDesc(base uint64, limit uint32) (lo, hi uint64) {
	lo = uint64(limit & 0xffff)
	lo |= (base & 0xffffff) << 16
	lo |= uint64(descPresent|sysTSSAvailable) << 40
	lo |= uint64((limit>>16)&0xf) << 48
	lo |= ((base >> 24) & 0xff) << 56
	hi = base >> 32
	return lo, hi
}

// buildGDT returns the GDT bytes: Linux's x86-64 layout, with the TSS
// descriptor pointing at VCPU 0's TSS (KVM loads TR per VCPU from sregs,
// so the descriptor is only consulted by an LTR, which never runs).
func buildGDT() []byte {
	d := make([]uint64, gdtEntries)
	d[selKernelCS32>>3] = segDesc(descPresent|descS|descExec|descRW, descDB|descG)
	d[selKernelCS>>3] = segDesc(descPresent|descS|descExec|descRW, descL|descG)
	d[selKernelDS>>3] = segDesc(descPresent|descS|descRW, descDB|descG)
	d[selUserCS32>>3] = segDesc(descPresent|descS|descDPL3|descExec|descRW, descDB|descG)
	d[selUserDS>>3] = segDesc(descPresent|descS|descDPL3|descRW, descDB|descG)
	d[selUserCS>>3] = segDesc(descPresent|descS|descDPL3|descExec|descRW, descL|descG)
	d[selTSS>>3], d[selTSS>>3+1] = tssDesc(tssBase(0), tssLimit)
	b := make([]byte, 8*len(d))
	for i, v := range d {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// idtGate encodes a 16-byte 64-bit interrupt gate.
func idtGate(handler uint64, sel uint16, ist, dpl uint8) [16]byte {
	var g [16]byte
	le := binary.LittleEndian
	le.PutUint16(g[0:], uint16(handler))
	le.PutUint16(g[2:], sel)
	g[4] = ist & 7
	g[5] = descPresent | dpl<<5 | gateInterrupt
	le.PutUint16(g[6:], uint16(handler>>16))
	le.PutUint32(g[8:], uint32(handler>>32))
	return g
}

// buildIDT returns the 256-entry IDT with all 32 exception vectors
// pointing at their stubs. #BP and #OF are DPL 3 so that int3/into from
// user code raise them (as on Linux); the rest are DPL 0, so a user
// "int n" raises #GP. Vectors 32-255 are not present.
func buildIDT() []byte {
	b := make([]byte, 256*16)
	for v := 0; v < numExceptionVectors; v++ {
		var dpl uint8
		if v == vecBP || v == vecOF {
			dpl = 3
		}
		ist := uint8(istDefault)
		if v == vecDF {
			ist = istDoubleFault
		}
		g := idtGate(excStubGVA+uint64(v)*excStubSize, selKernelCS, ist, dpl)
		copy(b[16*v:], g[:])
	}
	return b
}

// TSS layout (64-bit): RSP0 at 4, IST1..7 at 36, I/O map base at 102;
// the I/O bitmap follows the 104-byte TSS, then a 0xff byte.
const (
	tssSize      = 104
	tssIOMapOff  = tssSize
	tssLimit     = tssIOMapOff + ioBitmapPorts/8 // includes the trailing 0xff byte
	tssRSP0Off   = 4
	tssIST1Off   = 36
	tssIOBaseOff = 102
)

// buildTSS returns one VCPU's TSS with its I/O bitmap: only portSyscall is
// allowed at CPL 3. rsp0 and the IST entries point at the VCPU's
// exception stacks.
func buildTSS(rsp0, ist1, ist2 uint64) []byte {
	b := make([]byte, tssLimit+1)
	le := binary.LittleEndian
	le.PutUint64(b[tssRSP0Off:], rsp0)
	le.PutUint64(b[tssIST1Off:], ist1)
	le.PutUint64(b[tssIST1Off+8:], ist2)
	le.PutUint16(b[tssIOBaseOff:], tssIOMapOff)
	bm := b[tssIOMapOff:]
	for i := range bm {
		bm[i] = 0xff
	}
	bm[portSyscall/8] &^= 1 << (portSyscall % 8)
	return b
}

// Segment-register values for KVM_SET_SREGS.

func codeSeg(sel uint16, dpl uint8) kvm.Segment {
	return kvm.Segment{Limit: 0xffffffff, Selector: sel, Type: 0xb, Present: 1, DPL: dpl, S: 1, L: 1, G: 1}
}

func dataSeg(sel uint16, dpl uint8) kvm.Segment {
	return kvm.Segment{Limit: 0xffffffff, Selector: sel, Type: 0x3, Present: 1, DPL: dpl, DB: 1, S: 1, G: 1}
}

// userSegments sets the segment registers of a 64-bit Linux process: CS
// 0x33, SS 0x2b, and null DS/ES/FS/GS (FS and GS keep their bases).
func userSegments(s *kvm.Sregs) {
	s.CS = codeSeg(selUserCS, 3)
	s.SS = dataSeg(selUserDS, 3)
	for _, seg := range []*kvm.Segment{&s.DS, &s.ES, &s.FS, &s.GS} {
		base := seg.Base
		*seg = dataSeg(0, 3)
		seg.Base = base
	}
}

// tssSegment is TR for VCPU id.
func tssSegment(id int) kvm.Segment {
	return kvm.Segment{Base: tssBase(id), Limit: tssLimit, Selector: selTSS, Type: sysTSSBusy, Present: 1}
}
