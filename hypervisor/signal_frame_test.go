package hypervisor

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

func TestPlaceSigFrame(t *testing.T) {
	lay, _ := testXstate()
	fpSize := uint64(lay.frameSize())
	alt := sigaltstack{sp: 0x20000, size: 0x8000}
	for _, tc := range []struct {
		name    string
		sp      uint64
		onstack bool
		alt     sigaltstack
		ok      bool
		top     uint64 // where the FPU area must end at most
	}{
		{"main stack", 0x7fff0000, false, alt, true, 0x7fff0000 - redZone},
		{"unaligned sp", 0x7fff0007, false, alt, true, 0x7fff0007 - redZone},
		{"enters the alternate stack", 0x7fff0000, true, alt, true, 0x28000},
		{"nested on the alternate stack", 0x27000, true, alt, true, 0x27000 - redZone},
		{"overflows the alternate stack", 0x20000 + 0x800, true, alt, false, 0},
		{"SA_ONSTACK without a stack", 0x7fff0000, true, sigaltstack{}, true, 0x7fff0000 - redZone},
		{"auto-disarmed stack is entered again", 0x27000, true, sigaltstack{sp: 0x20000, size: 0x8000, flags: ssAutodisarm}, true, 0x28000},
	} {
		frame, fp, ok := placeSigFrame(tc.sp, tc.onstack, tc.alt, fpSize)
		if ok != tc.ok {
			t.Errorf("%s: ok %v", tc.name, ok)
			continue
		}
		if !ok {
			continue
		}
		if frame%16 != 8 {
			t.Errorf("%s: frame %#x: rsp %% 16 = %d at the handler, want 8", tc.name, frame, frame%16)
		}
		if fp%64 != 0 || fp+fpSize > tc.top || fp+fpSize+64 <= tc.top {
			t.Errorf("%s: FPU area [%#x, %#x), want 64-aligned just below %#x", tc.name, fp, fp+fpSize, tc.top)
		}
		if frame+frSize > fp || frame+frSize+32 <= fp {
			t.Errorf("%s: frame [%#x, %#x) not right below the FPU area at %#x", tc.name, frame, frame+frSize, fp)
		}
	}
}

func TestSigFrameRoundTrip(t *testing.T) {
	lay, init := testXstate()
	regs := kvm.Regs{RAX: 1, RBX: 2, RCX: 3, RDX: 4, RSI: 5, RDI: 6, RSP: 0x7fff1230, RBP: 8,
		R8: 9, R9: 10, R10: 11, R11: 12, R12: 13, R13: 14, R14: 15, R15: 16, RIP: 0x401234, RFLAGS: 0x246}
	spec := sigFrameSpec{
		regs: regs, mask: sigmask(sigINT) | sigmask(sigRTMIN), alt: sigaltstack{sp: 0x5000, size: 0x4000, flags: ssAutodisarm},
		fault: faultInfo{trapno: 14, err: 6, cr2: 0xbad}, info: (&siginfo{signo: sigSEGV, code: segvAccerr, addr: 0xbad}).encode(),
		restorer: 0x400800, ucFlags: lay.ucFlags(), fp: lay.toFrame(init),
	}
	frame, fp, ok := placeSigFrame(regs.RSP, false, spec.alt, uint64(len(spec.fp)))
	if !ok {
		t.Fatal("no room")
	}
	b := buildSigFrame(&spec, frame, fp)
	if uint64(len(b)) != fp+uint64(len(spec.fp))-frame {
		t.Fatalf("frame is %d bytes", len(b))
	}
	le := binary.LittleEndian
	if le.Uint64(b[frPretcode:]) != spec.restorer {
		t.Errorf("pretcode %#x", le.Uint64(b))
	}
	sc := b[frUC+ucMcontext:]
	if le.Uint64(sc[scTrapno:]) != 14 || le.Uint64(sc[scErr:]) != 6 || le.Uint64(sc[scCR2:]) != 0xbad ||
		le.Uint64(sc[scOldmask:]) != uint64(spec.mask) || le.Uint64(sc[scFpstate:]) != fp ||
		le.Uint16(sc[scCS:]) != selUserCS || le.Uint16(sc[scSS:]) != selUserDS {
		t.Errorf("sigcontext extras wrong: % x", sc[scCS:scSize])
	}
	if !bytes.Equal(b[frInfo:frInfo+siginfoSize], spec.info) {
		t.Error("siginfo not at its offset")
	}
	f := decodeSigFrame(b)
	if f.regs != regs || f.mask != spec.mask || f.ucFlags != lay.ucFlags() || f.alt != spec.alt || f.fpstate != fp {
		t.Errorf("decoded %+v", f)
	}
	if frameCS(b) != selUserCS {
		t.Errorf("cs %#x", frameCS(b))
	}
	if got := sigreturnFlags(0x202, 0x3c7fd7); got&^(fixEflags) != 0x202 || got&fixEflags != 0x3c7fd7&fixEflags {
		t.Errorf("sigreturnFlags = %#x", got)
	}
}

func TestXstateFrame(t *testing.T) {
	lay, init := testXstate()
	if lay.size != 0x980 || !lay.xsave() || lay.frameSize() != 0x984 || lay.ucFlags() != 7 {
		t.Fatalf("layout %+v", lay)
	}
	le := binary.LittleEndian
	img := append([]byte(nil), init...)
	for i := fxXMMOff; i < fxSWOff; i++ {
		img[i] = byte(i)
	}
	for i := 0x240; i < 0x980; i++ {
		img[i] = byte(i * 7)
	}
	le.PutUint64(img[xsaveHeaderOff:], 0xe7)
	fr := lay.toFrame(img)
	sw := fr[fxSWOff:]
	if le.Uint32(sw[swMagic1:]) != fpXstateMagic1 || le.Uint32(sw[swXstateSize:]) != 0x980 ||
		le.Uint32(sw[swExtendedSize:]) != 0x984 || le.Uint64(sw[swXfeatures:]) != 0xe7 ||
		le.Uint32(fr[0x980:]) != fpXstateMagic2 {
		t.Fatalf("software bytes % x, magic2 %#x", sw[:24], le.Uint32(fr[0x980:]))
	}
	back, err := lay.fromFrame(fr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back[:fxSWOff], img[:fxSWOff]) || !bytes.Equal(back[fxsaveSize+64:0x980], img[fxsaveSize+64:0x980]) ||
		le.Uint64(back[xsaveHeaderOff:]) != 0xe7 {
		t.Error("XSAVE image does not survive a frame round trip")
	}

	// The initial state's frame marks FP and SSE present, as Linux does.
	if bv := le.Uint64(lay.toFrame(init)[xsaveHeaderOff:]); bv != xfeatureFPSSE {
		t.Errorf("initial state xfeatures %#x", bv)
	}

	for _, tc := range []struct {
		name  string
		edit  func(b []byte)
		ok    bool
		check func(img []byte) bool
	}{
		{"reserved MXCSR bit", func(b []byte) { le.PutUint32(b[fxMXCSR:], 0x1f80|1<<20) }, false, nil},
		{"feature not in XCR0", func(b []byte) { le.PutUint64(b[xsaveHeaderOff:], 0xe7|1<<9) }, false, nil},
		{"compacted header", func(b []byte) { le.PutUint64(b[xsaveHeaderOff+8:], 1<<63|0xe7) }, false, nil},
		{"no magic: FXSAVE only, AVX state initialised", func(b []byte) { le.PutUint32(b[fxSWOff:], 0) }, true,
			func(img []byte) bool { return le.Uint64(img[xsaveHeaderOff:]) == xfeatureFPSSE }},
		{"bad magic2: FXSAVE only", func(b []byte) { le.PutUint32(b[0x980:], 0) }, true,
			func(img []byte) bool { return le.Uint64(img[xsaveHeaderOff:]) == xfeatureFPSSE }},
		{"xstate_size too big: FXSAVE only", func(b []byte) { le.PutUint32(b[fxSWOff+swXstateSize:], 0x2000) }, true,
			func(img []byte) bool { return le.Uint64(img[xsaveHeaderOff:]) == xfeatureFPSSE }},
		{"SSE cleared in xfeatures: registers initialised", func(b []byte) { le.PutUint64(b[xsaveHeaderOff:], 0xe5) }, true,
			func(img []byte) bool { return img[fxXMMOff+5] == 0 && le.Uint64(img[xsaveHeaderOff:]) == 0xe7 }},
		{"x87 cleared: FCW initialised", func(b []byte) { le.PutUint64(b[xsaveHeaderOff:], 0xe6) }, true,
			func(img []byte) bool { return le.Uint16(img[fxFCW:]) == x87InitFCW }},
		{"AVX-512 not announced: initialised", func(b []byte) { le.PutUint64(b[fxSWOff+swXfeatures:], 0x7) }, true,
			func(img []byte) bool { return le.Uint64(img[xsaveHeaderOff:]) == 0x7 }},
	} {
		b := append([]byte(nil), fr...)
		tc.edit(b)
		img, err := lay.fromFrame(b)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if err == nil {
			if !validKVMXsave(&lay, img) {
				t.Errorf("%s: image KVM would refuse", tc.name)
			}
			if tc.check != nil && !tc.check(img) {
				t.Errorf("%s: wrong image: header % x", tc.name, img[xsaveHeaderOff:xsaveHeaderOff+16])
			}
		}
	}
}

// validKVMXsave checks what KVM_SET_XSAVE checks of a standard-format
// image (copy_uabi_to_xstate): features within XCR0, a zero compaction
// word and reserved header, a valid MXCSR.
func validKVMXsave(l *xstateLayout, img []byte) bool {
	le := binary.LittleEndian
	hdr := img[xsaveHeaderOff : xsaveHeaderOff+xsaveHeaderSize]
	if le.Uint64(hdr)&^l.xcr0 != 0 || le.Uint64(hdr[8:]) != 0 {
		return false
	}
	for _, c := range hdr[16:] {
		if c != 0 {
			return false
		}
	}
	return le.Uint32(img[fxMXCSR:])&^l.mxcsrMask == 0 && len(img) == l.imageSize
}
