//go:build !amd64

package perfevent

// Architectures without an implementation here: the user-page path sees
// no rdpmc and no cycle counter, so it never claims a live count and
// reads fall back to read(2). (arm64 has PMCCNTR_EL0/PMEVCNTR
// and CNTVCT_EL0 behind the same page protocol; adding them is a matter
// of an rdpmc_arm64.s.)
func cpuRdpmc(counter uint32) (uint64, bool) { return 0, false }
func cpuRdtsc() (uint64, bool)               { return 0, false }

const haveRdpmc = false
