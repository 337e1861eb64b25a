package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// System calls language runtimes use to look at their own resources:
// mincore and getrusage. (The Go runtime's other needs are epoll,
// eventfd, signals and futexes, in their own files; sched_getaffinity is
// in syscall_info.go.)

func init() {
	registerSyscall(sysMincore, sysMincoreFn)
	registerSyscall(sysGetrusage, sysGetrusageFn)
}

// maxMincorePages bounds the vector one mincore call fills at once.
const maxMincorePages = 1 << 20

// sysMincoreFn reports a page as resident when it has guest-physical
// memory behind it: every accessible page (mapping is eager), not the
// PROT_NONE reservations never made accessible. EINVAL for an unaligned
// address, ENOMEM for a range not wholly mapped, EFAULT for the vector.
func sysMincoreFn(t *Thread, a SyscallArgs) (uint64, error) {
	addr, length := a[0], a[1]
	if addr&pageMask != 0 {
		return 0, unix.EINVAL
	}
	end, ok := pageUp(addr + length)
	if !ok || addr+length < addr || end > userTop {
		return 0, unix.ENOMEM
	}
	for addr < end {
		n := min((end-addr)/pageSize, maxMincorePages)
		vec, err := t.proc.mm.residency(addr, n)
		if err != nil {
			return 0, err
		}
		if err := t.proc.mm.CopyOut(a[2], vec); err != nil {
			return 0, err
		}
		addr += n * pageSize
		a[2] += n
	}
	return 0, nil
}

// residency returns one byte per page of the n pages at addr: 1 if
// bound. ENOMEM unless all are mapped.
func (m *MM) residency(addr, n uint64) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.vmas.mapped(addr, addr+n*pageSize) {
		return nil, unix.ENOMEM
	}
	vec := make([]byte, n)
	for i := range vec {
		if _, _, ok := m.binds.lookup(addr + uint64(i)*pageSize); ok {
			vec[i] = 1
		}
	}
	return vec, nil
}

// getrusage who values.
const (
	rusageSelf     = 0
	rusageChildren = -1
	rusageThread   = 1
	rusageSize     = 144 // struct rusage: two timevals, fourteen longs
	rusageMaxRSS   = 32
)

// sysGetrusageFn reports the guest CPU time the VMM measured as user
// time (system calls run in the VMM and count as neither), and the bound
// memory as the maximum resident set. There are no children.
func sysGetrusageFn(t *Thread, a SyscallArgs) (uint64, error) {
	var nanos int64
	switch a.Int(0) {
	case rusageSelf:
		nanos = t.proc.cpuNanos()
	case rusageThread:
		nanos = t.cpuNanos.Load()
	case rusageChildren:
	default:
		return 0, unix.EINVAL
	}
	b := make([]byte, rusageSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(nanos/1e9))
	le.PutUint64(b[8:], uint64(nanos%1e9/1e3))
	if a.Int(0) != rusageChildren {
		le.PutUint64(b[rusageMaxRSS:], t.proc.mm.Stats().BoundPages*pageSize/1024)
	}
	return 0, t.proc.mm.CopyOut(a[1], b)
}
