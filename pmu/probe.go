package pmu

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CPUInfoPath is where Linux describes the CPUs.
const CPUInfoPath = "/proc/cpuinfo"

// ReasonNoCorePMUDriver is the reason given on a machine that is not a VM
// but has no core PMU in sysfs.
const ReasonNoCorePMUDriver = "no hardware PMU: no core PMU driver in sysfs"

// coreNames are the sysfs names of core (CPU) PMUs: x86 and most others
// register "cpu", hybrid Intel registers "cpu_core" and "cpu_atom", s390
// "cpum_cf"; coreNamePrefixes catches ARM's per-implementation names such
// as armv8_pmuv3_0 or armv8_cortex_a72.
var (
	coreNames        = []string{"cpu", "cpu_core", "cpu_atom", "cpum_cf"}
	coreNamePrefixes = []string{"armv8_", "armv7_", "armv6_"}
)

// IsCorePMU reports whether a sysfs PMU name is a core PMU, one that
// counts the generic hardware events of a CPU.
func IsCorePMU(name string) bool {
	for _, n := range coreNames {
		if name == n {
			return true
		}
	}
	for _, p := range coreNamePrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	// Apple silicon: apple_firestorm_pmu, apple_icestorm_pmu, ...
	return strings.HasPrefix(name, "apple_") && strings.HasSuffix(name, "_pmu")
}

// HardwarePMU reports whether the machine has a core PMU, looking under
// <sysfsRoot>/bus/event_source/devices ("/sys" on a live system). When it
// has none, reason says why in words fit for a NotSupportedError: in a VM
// (the CPU flags in /proc/cpuinfo include "hypervisor") it is
// ReasonNoHardwarePMU, on bare metal ReasonNoCorePMUDriver. It makes no
// system call but reading files.
func HardwarePMU(sysfsRoot string) (present bool, reason string) {
	return HardwarePMUAt(sysfsRoot, CPUInfoPath)
}

// HardwarePMUAt is HardwarePMU with the path of the cpuinfo file given.
func HardwarePMUAt(sysfsRoot, cpuinfoPath string) (present bool, reason string) {
	dir := filepath.Join(sysfsRoot, devicesDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, "no perf_event PMUs: " + dir + " does not exist (kernel without perf events, or sysfs not mounted)"
	}
	if err != nil {
		return false, "no hardware PMU found: " + err.Error()
	}
	for _, e := range ents {
		if IsCorePMU(e.Name()) {
			return true, ""
		}
	}
	if vm, _ := CPUHasFlag(cpuinfoPath, "hypervisor"); vm {
		return false, ReasonNoHardwarePMU
	}
	return false, ReasonNoCorePMUDriver
}

// CPUHasFlag reports whether the first CPU of a cpuinfo file lists flag
// in its "flags" (x86) or "Features" (ARM) line.
func CPUHasFlag(cpuinfoPath, flag string) (bool, error) {
	f, err := os.Open(cpuinfoPath)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if k := strings.TrimSpace(key); k != "flags" && k != "Features" {
			continue
		}
		for _, fl := range strings.Fields(val) {
			if fl == flag {
				return true, nil
			}
		}
		return false, nil
	}
	return false, sc.Err()
}
