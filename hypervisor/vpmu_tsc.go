package hypervisor

// rdtsc executes RDTSC on the host: the time base of the virtual PMU's
// guest-time source (vpmu_amd64.s).
func rdtsc() uint64
