package perfevent

// rdpmcAsm executes RDPMC for the counter; see rdpmc_amd64.s. Call it
// only when the counter's user page has cap_user_rdpmc and index != 0.
//
//go:noescape
func rdpmcAsm(counter uint32) uint64

// rdtscAsm executes RDTSC.
//
//go:noescape
func rdtscAsm() uint64

func cpuRdpmc(counter uint32) (uint64, bool) { return rdpmcAsm(counter), true }
func cpuRdtsc() (uint64, bool)               { return rdtscAsm(), true }

// haveRdpmc reports whether this architecture has a user-mode counter
// read instruction implemented here.
const haveRdpmc = true
