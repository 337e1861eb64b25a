package hypervisor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// The VMM's own cost of path calls through the sandbox (no KVM: the
// handlers run on a fake process; a real call adds the 25-35 µs exit).

func BenchmarkSandboxOpen(b *testing.B) {
	dir := b.TempDir()
	grant := filepath.Join(dir, "g")
	if err := os.Mkdir(grant, 0o755); err != nil {
		b.Fatal(err)
	}
	th, mem := newFakeProcess(b)
	sb, err := newSandbox([]string{grant}, th.proc.vm.log)
	if err != nil {
		b.Fatal(err)
	}
	defer sb.close()
	th.proc.vm.sb = sb
	for _, bc := range []struct {
		name, path string
		flags      int
	}{
		{"read", "/etc/passwd", unix.O_RDONLY},
		{"read-proc-self", "/proc/self/status", unix.O_RDONLY},
		{"write-granted", filepath.Join(grant, "f"), unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC},
		{"write-refused", "/etc/passwd", unix.O_WRONLY},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if err := th.proc.mm.CopyOut(mem, append([]byte(bc.path), 0)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				fd, err := th.dispatchSyscall(sysOpenat, SyscallArgs{atFDCWD, mem, uint64(bc.flags), 0o644})
				if err == nil {
					th.proc.fds.close(int(fd))
				}
			}
		})
	}
}

func BenchmarkSandboxStat(b *testing.B) {
	th, mem := newFakeProcess(b)
	if err := th.proc.mm.CopyOut(mem, []byte("/usr/bin/xz\x00")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := th.dispatchSyscall(sysNewfstatat, SyscallArgs{atFDCWD, mem, mem + 64, 0}); err != nil && err != unix.ENOENT {
			b.Fatal(err)
		}
	}
}

// atFDCWD is AT_FDCWD as a system-call argument register.
const atFDCWD = uint64(1<<64 + unix.AT_FDCWD)
