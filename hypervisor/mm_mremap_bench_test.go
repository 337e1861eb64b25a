package hypervisor

import (
	"fmt"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// BenchmarkMremapMove is the VMM's cost of one mremap move
// (MREMAP_FIXED, no resize) of a private anonymous mapping, back and
// forth between two addresses: with every page holding data (each is
// copied) and with none touched (each is scanned for zero). No VCPU
// runs; the invalidation's host calls are included.
func BenchmarkMremapMove(b *testing.B) {
	for _, mib := range []uint64{1, 64} {
		for _, touched := range []bool{true, false} {
			name := fmt.Sprintf("%dMiB/untouched", mib)
			if touched {
				name = fmt.Sprintf("%dMiB/touched", mib)
			}
			b.Run(name, func(b *testing.B) { benchMremapMove(b, mib<<20, touched) })
		}
	}
}

func benchMremapMove(b *testing.B, size uint64, touched bool) {
	b.ReportAllocs()
	m := newTestMM(b, 0)
	addrs := [2]uint64{0x1000_0000, 0x2000_0000}
	if _, err := m.Mmap(mmapRequest{addr: addrs[0], length: size, prot: rw, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}); err != nil {
		b.Fatal(err)
	}
	if touched {
		for p := addrs[0]; p < addrs[0]+size; p += pageSize {
			m.WriteUint64(p, p)
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from, to := addrs[i%2], addrs[(i+1)%2]
		if _, err := m.Mremap(from, size, size, mremapMaymove|mremapFixed, to); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	last := addrs[b.N%2]
	if v, err := m.ReadUint64(last + size - pageSize); err != nil || touched && v != addrs[0]+size-pageSize {
		b.Fatalf("last page after %d moves: %#x, %v", b.N, v, err)
	}
}
