package hypervisor

import (
	"encoding/binary"
	"errors"

	"github.com/vpmu/vpmu/hypervisor/kvm"
)

// The FPU part of a signal frame (arch/x86/kernel/fpu/signal.c). The
// VMM keeps a thread's FPU state as the standard-format XSAVE image that
// KVM_GET_XSAVE2 returns; a frame holds the first size bytes of it (what
// XSAVE would write for the enabled features) with the software bytes in
// the FXSAVE area's reserved tail and FP_XSTATE_MAGIC2 after it.

// Layout of the XSAVE image and its software bytes (struct _fpx_sw_bytes,
// arch/x86/include/uapi/asm/sigcontext.h).
const (
	fxsaveSize       = 512
	xsaveHeaderOff   = 512
	xsaveHeaderSize  = 64
	xsaveMinSize     = fxsaveSize + xsaveHeaderSize
	fxFCW            = 0
	fxFSW            = 2
	fxFTW            = 4
	fxMXCSR          = 24
	fxMXCSRMask      = 28
	fxSTOff          = 32  // ST0-7/MM0-7, 16 bytes each
	fxXMMOff         = 160 // XMM0-15, 16 bytes each
	fxSWOff          = 464 // struct _fpx_sw_bytes
	swMagic1         = 0
	swExtendedSize   = 4
	swXfeatures      = 8
	swXstateSize     = 16
	fpXstateMagic1   = 0x46505853
	fpXstateMagic2   = 0x46505845
	fpMagic2Size     = 4
	xfeatureFPSSE    = 0x3
	defaultMXCSRMask = 0xffbf
	x87InitFCW       = 0x37f
)

// errBadFPFrame says a frame's FPU area cannot be restored: XRSTOR or
// FXRSTOR would fault on it.
var errBadFPFrame = errors.New("invalid FPU state in signal frame")

// xstateLayout describes the guest's XSAVE image.
type xstateLayout struct {
	xcr0 uint64
	// size is the user XSAVE size for xcr0 (CPUID 0xD.0 EBX), the size of
	// the frame's image; 0 when the CPU has no XSAVE (FXSAVE frames).
	size int
	// imageSize is the VMM's image size (the KVM_GET_XSAVE2 buffer).
	imageSize int
	mxcsrMask uint32
	// comp[i] is the offset and size of state component i >= 2.
	comp [64]struct{ off, size int }
}

// newXstateLayout reads the layout from the supported CPUID, with the
// MXCSR mask of the VCPU's initial FPU image.
func newXstateLayout(cpuid []kvm.CPUIDEntry, xcr0 uint64, imageSize int, initFPU []byte) xstateLayout {
	l := xstateLayout{xcr0: xcr0, imageSize: imageSize, mxcsrMask: defaultMXCSRMask}
	if len(initFPU) >= fxsaveSize {
		if m := binary.LittleEndian.Uint32(initFPU[fxMXCSRMask:]); m != 0 {
			l.mxcsrMask = m
		}
	}
	if e, ok := cpuidLeaf(cpuid, 0xd, 0); ok && e.EBX >= xsaveMinSize {
		l.size = int(e.EBX)
	}
	for i := 2; i < 64; i++ {
		if xcr0&(1<<i) == 0 {
			continue
		}
		if e, ok := cpuidLeaf(cpuid, 0xd, uint32(i)); ok && e.EAX != 0 {
			l.comp[i].off, l.comp[i].size = int(e.EBX), int(e.EAX)
			l.size = max(l.size, int(e.EBX+e.EAX))
		}
	}
	if l.size > imageSize {
		l.size = imageSize
	}
	return l
}

// xsave reports whether frames carry an XSAVE image (rather than only
// the 512-byte FXSAVE area).
func (l *xstateLayout) xsave() bool { return l.size >= xsaveMinSize }

// frameSize is the size of a frame's FPU area, magic included.
func (l *xstateLayout) frameSize() int {
	if !l.xsave() {
		return fxsaveSize
	}
	return l.size + fpMagic2Size
}

// ucFlags are the uc_flags of a frame (frame_uc_flags).
func (l *xstateLayout) ucFlags() uint64 {
	if l.xsave() {
		return ucFPXstate | ucSigcontextSS | ucStrictRestoreSS
	}
	return ucSigcontextSS | ucStrictRestoreSS
}

// toFrame returns a frame's FPU area for the image img, as
// copy_fpstate_to_sigframe leaves it: the XSAVE image with a clean header
// whose xfeatures always include FP and SSE, the software bytes, and the
// second magic word.
func (l *xstateLayout) toFrame(img []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, l.frameSize())
	if !l.xsave() {
		copy(b, img)
		clear(b[fxSWOff:fxsaveSize])
		return b
	}
	copy(b[:l.size], img)
	bv := le.Uint64(img[xsaveHeaderOff:])&l.xcr0 | xfeatureFPSSE
	clear(b[xsaveHeaderOff : xsaveHeaderOff+xsaveHeaderSize])
	le.PutUint64(b[xsaveHeaderOff:], bv)
	sw := b[fxSWOff:]
	le.PutUint32(sw[swMagic1:], fpXstateMagic1)
	le.PutUint32(sw[swExtendedSize:], uint32(l.size+fpMagic2Size))
	le.PutUint64(sw[swXfeatures:], l.xcr0)
	le.PutUint32(sw[swXstateSize:], uint32(l.size))
	le.PutUint32(b[l.size:], fpXstateMagic2)
	return b
}

// fromFrame rebuilds an image from a frame's FPU area b (frameSize
// bytes), as fpu__restore_sig restores it. An area whose software bytes
// do not announce a complete XSAVE image is restored as FXSAVE state only
// ("fx only"); every component not restored goes to its initial state.
// It fails, as XRSTOR/FXRSTOR would fault, for reserved MXCSR bits, a
// header naming features the CPU does not have, or a compacted or
// reserved header.
func (l *xstateLayout) fromFrame(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	img := make([]byte, l.imageSize)
	copy(img, b[:fxsaveSize])
	clear(img[fxSWOff:fxsaveSize])
	if le.Uint32(b[fxMXCSR:])&^l.mxcsrMask != 0 {
		return nil, errBadFPFrame
	}
	bv := uint64(xfeatureFPSSE)
	if l.xsave() {
		sw := b[fxSWOff:]
		size := int(le.Uint32(sw[swXstateSize:]))
		if le.Uint32(sw[swMagic1:]) == fpXstateMagic1 && size >= xsaveMinSize && size <= l.size &&
			size <= int(le.Uint32(sw[swExtendedSize:])) && le.Uint32(b[size:]) == fpXstateMagic2 {
			hdr := b[xsaveHeaderOff:]
			bv = le.Uint64(hdr)
			if bv&^l.xcr0 != 0 || le.Uint64(hdr[8:]) != 0 || le.Uint64(hdr[16:]) != 0 {
				return nil, errBadFPFrame
			}
			// Features the frame does not announce are initialised.
			bv &= le.Uint64(sw[swXfeatures:])
		}
	}
	// XRSTOR puts components with a clear XSTATE_BV bit in their initial
	// state; FP and SSE are kept in the FXSAVE area, so initialise them
	// there (MXCSR is always loaded).
	if bv&1 == 0 {
		clear(img[0:fxMXCSR])
		clear(img[fxSTOff:fxXMMOff])
		le.PutUint16(img[fxFCW:], x87InitFCW)
	}
	if bv&2 == 0 {
		clear(img[fxXMMOff:fxSWOff])
	}
	for i := 2; i < 64; i++ {
		c := l.comp[i]
		if bv&(1<<i) == 0 || c.size == 0 || c.off+c.size > len(b) || c.off+c.size > len(img) {
			bv &^= 1 << i
			continue
		}
		copy(img[c.off:c.off+c.size], b[c.off:c.off+c.size])
	}
	le.PutUint64(img[xsaveHeaderOff:], bv|xfeatureFPSSE)
	return img, nil
}
