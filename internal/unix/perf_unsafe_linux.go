package unix

import "unsafe"

// PerfEventAttrSize is the size of the PerfEventAttr this package passes
// to perf_event_open; it goes in PerfEventAttr.Size.
const PerfEventAttrSize = uint32(unsafe.Sizeof(PerfEventAttr{}))

// PerfEventMmapPageSize is the size of struct perf_event_mmap_page as
// declared here (one 4 KiB page on every supported architecture up to
// the aux fields).
const PerfEventMmapPageSize = unsafe.Sizeof(PerfEventMmapPage{})
