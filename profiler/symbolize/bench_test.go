package symbolize

import (
	"testing"

	"github.com/vpmu/vpmu/profiler/internal/testprog"
)

// spreadAddrs returns n addresses spread evenly over bin's .text.
func spreadAddrs(t testing.TB, bin string, n int) []uint64 {
	lo, hi := textRange(t, bin)
	addrs := make([]uint64, n)
	for i := range addrs {
		addrs[i] = lo + (hi-lo)*uint64(i)/uint64(n)
	}
	return addrs
}

// BenchmarkFrames10k resolves 10,000 addresses spread over a Go binary's
// text (runtime included) with DWARF inline chains, after a first pass
// has decoded the units they touch: the steady state of a profile's
// symbolization, where each binary is opened once.
func BenchmarkFrames10k(b *testing.B) {
	for _, v := range []struct {
		name  string
		flags []string
	}{{"dwarf", nil}, {"pclntab", []string{"-ldflags=-w"}}} {
		b.Run(v.name, func(b *testing.B) {
			bin := testprog.BuildGo(b, "goprog", v.flags...)
			s := New(Options{})
			bn, err := s.Open(bin, "")
			if err != nil {
				b.Fatal(err)
			}
			addrs := spreadAddrs(b, bin, 10000)
			for _, a := range addrs {
				_, _ = bn.Frames(a)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, a := range addrs {
					if _, err := bn.Frames(a); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkOpen measures opening a Go binary and resolving one address in
// each of 100 places: the cost a profile pays once per binary.
func BenchmarkOpen(b *testing.B) {
	bin := testprog.BuildGo(b, "goprog")
	addrs := spreadAddrs(b, bin, 100)
	b.ReportAllocs()
	for b.Loop() {
		bn, err := New(Options{}).Open(bin, "")
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range addrs {
			_, _ = bn.Frames(a)
		}
	}
}
