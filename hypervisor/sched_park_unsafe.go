package hypervisor

import "unsafe"

// addr is the futex word of the parker.
func (p *parker) addr() *uint32 { return (*uint32)(unsafe.Pointer(&p.state)) }
