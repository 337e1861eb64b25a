//go:build !amd64

package perfevent

// hwOps on architectures without an implementation here: the user-page
// path sees no rdpmc and no cycle counter, so it never claims a live
// count and reads fall back to read(2). (arm64 has PMCCNTR_EL0/PMEVCNTR
// and CNTVCT_EL0 behind the same page protocol; adding them is a matter
// of an rdpmc_arm64.s.)
type hwOps struct{}

func (hwOps) rdpmc(counter uint32) (uint64, bool) { return 0, false }
func (hwOps) rdtsc() (uint64, bool)               { return 0, false }

const haveRdpmc = false
