package hypervisor

import (
	"errors"

	"github.com/vpmu/vpmu/internal/unix"
)

// Memory-management system calls: brk, mmap, munmap, mprotect, mremap,
// madvise.
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
	registerSyscall(sysMremap, sysMremapFn)
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

// sysMremapFn is mremap(2). A remap the VMM refuses where Linux would
// succeed (errMremapUnsupported) returns EINVAL and is reported as
// unimplemented; one the cap refuses is reported as noteMemErr does.
func sysMremapFn(t *Thread, a SyscallArgs) (uint64, error) {
	addr, err := t.proc.mm.Mremap(a[0], a[1], a[2], a[3], a[4])
	switch {
	case errors.Is(err, errMremapUnsupported):
		t.proc.vm.reportUnimplemented(sysMremap)
		return 0, unix.EINVAL
	case errors.Is(err, errMremapOverCap):
		return 0, t.noteMemErr(unix.ENOMEM, "mremap", a[2])
	}
	return addr, err
}
