package hypervisor

import "unsafe"

// addr is the sample clock's futex word.
func (k *sampleClock) addr() *uint32 { return (*uint32)(unsafe.Pointer(&k.word)) }
