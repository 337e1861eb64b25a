package hypervisor

import "encoding/binary"

// The frame-pointer walk of a sample, in guest memory. Code built with
// frame pointers (Go on amd64, C with -fno-omit-frame-pointer) keeps, in
// every function past its prologue, RBP pointing at a frame record: the
// caller's RBP at [RBP] and the return address into the caller at
// [RBP+8]. The walk follows that chain. Everything it reads comes from
// the guest, so every frame address is checked: it must be aligned,
// above the previous frame (stacks grow down), and readable through the
// VMM's own VMA table and GVA -> GPA bindings (MM.CopyIn), never through
// the guest's page tables. A bad frame ends the walk; nothing the guest
// writes can make the VMM fault or loop.

// StackEnd says why a frame-pointer walk stopped.
type StackEnd uint8

const (
	// StackNotWalked: stacks were not asked for.
	StackNotWalked StackEnd = iota
	// StackTop: the chain ended with a zero frame pointer or a zero
	// return address, as it does at a thread's outermost frame.
	StackTop
	// StackMisaligned: a frame pointer that is not 8-byte aligned (code
	// without frame pointers uses RBP for data).
	StackMisaligned
	// StackNotAbove: a frame at or below the previous one (or below the
	// stack pointer).
	StackNotAbove
	// StackUnreadable: a frame the guest cannot read.
	StackUnreadable
	// StackBadReturn: a return address outside the program's address
	// space.
	StackBadReturn
	// StackMaxDepth: the walk reached SamplingConfig.MaxDepth.
	StackMaxDepth

	stackEndCount
)

var stackEndNames = [stackEndCount]string{
	StackNotWalked: "not walked", StackTop: "top", StackMisaligned: "misaligned frame pointer",
	StackNotAbove: "frame not above the last", StackUnreadable: "unreadable frame",
	StackBadReturn: "bad return address", StackMaxDepth: "maximum depth",
}

func (e StackEnd) String() string {
	if e < stackEndCount {
		return stackEndNames[e]
	}
	return "unknown"
}

// guestReader reads guest memory with the VMM's checks (MM implements
// it; the fuzz target fakes it).
type guestReader interface {
	CopyIn(addr uint64, dst []byte) error
}

// walkFrames appends to dst the return addresses of the frame-pointer
// chain that starts at frame pointer bp, for a thread whose stack pointer
// is sp (0 when unknown), at most max of them, and says why it stopped.
// It never panics and reads at most max frame records.
func walkFrames(mem guestReader, bp, sp uint64, max int, dst []uint64) ([]uint64, StackEnd) {
	var rec [16]byte
	low := sp
	for n := 0; ; n++ {
		switch {
		case bp == 0:
			return dst, StackTop
		case n == max:
			return dst, StackMaxDepth
		case bp&7 != 0:
			return dst, StackMisaligned
		case bp < low || (n > 0 && bp == low) || bp > userTop-uint64(len(rec)):
			return dst, StackNotAbove
		}
		if err := mem.CopyIn(bp, rec[:]); err != nil {
			return dst, StackUnreadable
		}
		next := binary.LittleEndian.Uint64(rec[0:])
		ret := binary.LittleEndian.Uint64(rec[8:])
		switch {
		case ret == 0:
			return dst, StackTop
		case ret < userMin || ret >= userTop:
			return dst, StackBadReturn
		}
		dst = append(dst, ret)
		low = bp
		bp = next
	}
}
