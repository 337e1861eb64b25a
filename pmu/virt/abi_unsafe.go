package virt

import "unsafe"

// Compile-time layout checks: the documented offsets are the ABI.
var (
	_ [PageSize - unsafe.Sizeof(VCPUPage{})]byte
	_ [unsafe.Sizeof(VCPUPage{}) - PageSize]byte
	_ [PageSize - unsafe.Sizeof(ThreadPage{})]byte
	_ [unsafe.Sizeof(ThreadPage{}) - PageSize]byte
	_ [0x40 - unsafe.Offsetof(VCPUPage{}.Sources)]byte
	_ [unsafe.Offsetof(VCPUPage{}.Sources) - 0x40]byte
	_ [0x40 - unsafe.Offsetof(ThreadPage{}.Counters)]byte
	_ [unsafe.Offsetof(ThreadPage{}.Counters) - 0x40]byte
	_ [32 - unsafe.Sizeof(SourceSlot{})]byte
	_ [unsafe.Sizeof(SourceSlot{}) - 32]byte
	_ [32 - unsafe.Sizeof(CounterSlot{})]byte
	_ [unsafe.Sizeof(CounterSlot{}) - 32]byte
)
