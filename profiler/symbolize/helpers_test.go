package symbolize

import (
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }

func openOrFatal(t testing.TB, path string) *Binary {
	t.Helper()
	b, err := New(Options{}).Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Fatalf("problems with a good binary: %v", p)
	}
	return b
}

func framesOrFatal(t testing.TB, b *Binary, addr uint64) []Frame {
	t.Helper()
	fr, err := b.Frames(addr)
	if err != nil {
		t.Fatalf("Frames(%#x): %v", addr, err)
	}
	return fr
}
