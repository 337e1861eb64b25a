package hypervisor

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// BenchmarkMMProtect is the VMM's cost of taking access away from pages
// the guest has touched (so KVM holds translations of them): an
// mprotect to PROT_READ and back to PROT_READ|PROT_WRITE, and a munmap
// followed by a MAP_FIXED mmap of the same range. Between iterations,
// untimed, raw guest code writes every page once.
func BenchmarkMMProtect(b *testing.B) {
	for _, op := range []string{"mprotect", "munmap"} {
		for _, n := range []uint64{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/%dpages", op, n), func(b *testing.B) { benchMMProtect(b, op, n) })
		}
	}
}

func benchMMProtect(b *testing.B, op string, n uint64) {
	m := newTestMachine(b, 1)
	v := m.vcpus[0]
	loadRawCode(b, m, v, []byte{
		0x4c, 0x89, 0xe0, // mov %r12, %rax
		0x4c, 0x89, 0xe9, // mov %r13, %rcx
		0xc6, 0x00, 0x01, // 1: movb $1, (%rax)
		0x48, 0x05, 0x00, 0x10, 0x00, 0x00, // add $4096, %rax
		0x48, 0xff, 0xc9, // dec %rcx
		0x75, 0xf2, // jnz 1b
		0x0f, 0x05, // syscall
	})
	const data = 0x10000000
	size := n * pageSize
	fixed := mmapRequest{addr: data, length: size, prot: rw, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}
	if _, err := m.mm.Mmap(fixed); err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sregs, err := v.Sregs()
	if err != nil {
		b.Fatal(err)
	}
	userSegments(&sregs)
	r := v.RunData()
	touch := func() {
		r.Sync.Regs = kvm.Regs{RIP: 0x400000, RSP: 0x500000 + 4*pageSize, RFLAGS: userRflags, R12: data, R13: n}
		r.Sync.Sregs = sregs
		r.DirtyRegs = kvm.SyncRegsGPR | kvm.SyncRegsSregs
		if e := runUntilExit(b, v); e.Reason != kvm.ExitIO || e.IO.Port != portSyscall {
			b.Fatalf("touch loop: exit %+v", e)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		touch()
		b.StartTimer()
		switch op {
		case "mprotect":
			if err := m.mm.Mprotect(data, size, unix.PROT_READ); err != nil {
				b.Fatal(err)
			}
			if err := m.mm.Mprotect(data, size, rw); err != nil {
				b.Fatal(err)
			}
		case "munmap":
			if err := m.mm.Munmap(data, size); err != nil {
				b.Fatal(err)
			}
			if _, err := m.mm.Mmap(fixed); err != nil {
				b.Fatal(err)
			}
		}
	}
}
