package hypervisor

import (
	"github.com/vpmu/vpmu/internal/unix"
)

// Memory-management system calls: brk, mmap, munmap, mprotect, madvise.
// The semantics and deliberate differences from Linux are those of MM.

func init() {
	registerSyscall(sysBrk, func(t *Thread, a SyscallArgs) (uint64, error) { return t.brk(a[0]), nil })
	registerSyscall(sysMmap, sysMmapFn)
	registerSyscall(sysMunmap, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.proc.mm.Munmap(a[0], a[1])
	})
	registerSyscall(sysMprotect, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.noteMemErr(t.proc.mm.Mprotect(a[0], a[1], a.Int(2)), "mprotect", a[1])
	})
	registerSyscall(sysMadvise, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.proc.mm.Madvise(a[0], a[1], a.Int(2))
	})
}

func sysMmapFn(t *Thread, a SyscallArgs) (uint64, error) {
	req := mmapRequest{addr: a[0], length: a[1], prot: a.Int(2), flags: a.Int(3), off: a[5]}
	if req.flags&unix.MAP_ANONYMOUS == 0 {
		of, err := t.proc.fds.get(a.Int(4))
		if err != nil {
			return 0, err
		}
		defer t.proc.fds.put(of)
		if req.src, err = of.MmapSource(); err != nil {
			return 0, err
		}
	}
	addr, err := t.proc.mm.Mmap(req)
	return addr, t.noteMemErr(err, "mmap", req.length)
}
