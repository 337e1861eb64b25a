package hypervisor

// rdtsc executes RDTSC on the host: the time base of the virtual PMU's
// guest-time source (vpmu_amd64.s).
func rdtsc() uint64

// rdtscp executes RDTSCP: the TSC and IA32_TSC_AUX, which Linux sets to
// the CPU number (node<<12 | cpu).
func rdtscp() (tsc uint64, aux uint32)
