package hypervisor

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// System information: uname, resource limits, getrandom, CPU affinity.

func init() {
	registerSyscall(sysUname, sysUnameFn)
	registerSyscall(sysPrlimit64, sysPrlimit64Fn)
	registerSyscall(sysGetrlimit, func(t *Thread, a SyscallArgs) (uint64, error) {
		return sysPrlimit64Fn(t, SyscallArgs{0, a[0], 0, a[1]})
	})
	registerSyscall(sysGetrandom, sysGetrandomFn)
	registerSyscall(sysSchedGetaffinity, sysSchedGetaffinityFn)
}

// utsnameField is the size of each struct utsname field.
const utsnameField = 65

func sysUnameFn(t *Thread, a SyscallArgs) (uint64, error) {
	var host unix.Utsname
	if err := unix.Uname(&host); err != nil {
		return 0, err
	}
	b := make([]byte, 6*utsnameField)
	copy(b[0*utsnameField:], "Linux")
	copy(b[1*utsnameField:utsnameField*2-1], "vpmu")
	copy(b[2*utsnameField:utsnameField*3-1], host.Release[:])
	copy(b[3*utsnameField:utsnameField*4-1], host.Version[:])
	copy(b[4*utsnameField:], "x86_64")
	copy(b[5*utsnameField:], "(none)")
	return 0, t.proc.mm.CopyOut(a[0], b)
}

// Resource numbers (RLIMIT_*) with the limits the guest sees.
const (
	rlimitStack   = 3
	rlimitNofile  = 7
	rlimitAS      = 9
	rlimitNlimits = 16
	rlimInfinity  = ^uint64(0)
)

// guestRlimit returns the soft and hard limit of resource r.
func (t *Thread) guestRlimit(r int) (cur, max uint64) {
	switch r {
	case rlimitStack:
		return defaultStackSize, rlimInfinity
	case rlimitNofile:
		return maxFDs, maxFDs
	case rlimitAS:
		return rlimInfinity, rlimInfinity
	default:
		return rlimInfinity, rlimInfinity
	}
}

func sysPrlimit64Fn(t *Thread, a SyscallArgs) (uint64, error) {
	pid, res := a.Int(0), a.Int(1)
	if pid != 0 && pid != t.proc.pid {
		return 0, unix.ESRCH
	}
	if res < 0 || res >= rlimitNlimits {
		return 0, unix.EINVAL
	}
	if a[2] != 0 {
		// Setting limits is not supported: the VMM's limits are fixed.
		return 0, unix.EPERM
	}
	if a[3] != 0 {
		cur, max := t.guestRlimit(res)
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b[0:], cur)
		binary.LittleEndian.PutUint64(b[8:], max)
		return 0, t.proc.mm.CopyOut(a[3], b)
	}
	return 0, nil
}

func sysGetrandomFn(t *Thread, a SyscallArgs) (uint64, error) {
	const grndAll = 0x1 | 0x2 | 0x4 // GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE
	if a.Uint32(2)&^grndAll != 0 {
		return 0, unix.EINVAL
	}
	n := min(a[1], 1<<25-1) // Linux caps a call at 32 MiB - 1
	buf := make([]byte, n)
	rand.Read(buf)
	return n, t.proc.mm.CopyOut(a[0], buf)
}

func sysSchedGetaffinityFn(t *Thread, a SyscallArgs) (uint64, error) {
	// Linux copies min(len, cpumask size) bytes, the mask size being
	// whole longs for nr_cpu_ids: 8 bytes for the at most 64 VCPUs here.
	const maskBytes = (MaxVCPUs + 63) / 64 * 8
	size := a[1]
	if size < maskBytes || size&7 != 0 {
		return 0, unix.EINVAL
	}
	if pid := a.Int(0); pid != 0 && t.proc.thread(pid) == nil {
		return 0, unix.ESRCH
	}
	// The guest may run on every VCPU.
	mask := make([]byte, maskBytes)
	for i := 0; i < len(t.proc.vm.vcpus); i++ {
		mask[i/8] |= 1 << (i % 8)
	}
	return maskBytes, t.proc.mm.CopyOut(a[2], mask)
}
