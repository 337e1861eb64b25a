package unix

import "unsafe"

// PerfEventAttrSize is the size of the PerfEventAttr this package passes
// to perf_event_open; it goes in PerfEventAttr.Size.
const PerfEventAttrSize = uint32(unsafe.Sizeof(PerfEventAttr{}))
