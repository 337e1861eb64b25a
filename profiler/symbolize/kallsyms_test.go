package symbolize

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseKallsyms(t *testing.T) {
	const good = `ffffffff81000000 t __stext_alias
ffffffff81000000 T _text
ffffffff81000000 T _stext
ffffffff81000100 t helper
ffffffff81002000 D some_data
ffffffffc0001000 t mod_fn	[ext4]
`
	k, err := ParseKallsyms(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 3 {
		t.Errorf("Len = %d, want 3 (aliases and data dropped)", k.Len())
	}
	for _, tt := range []struct {
		addr uint64
		want string
	}{
		{0xffffffff81000000, "_stext"}, // global, then longer
		{0xffffffff810000ff, "_stext"},
		{0xffffffff81000100, "helper"},
		{0xffffffff81002000, "helper"}, // data symbols are not functions
		{0xffffffffc0001234, "mod_fn"},
		{0xffffffff80000000, ""},
	} {
		got, ok := k.Lookup(tt.addr)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%#x) = %q, %v; want %q", tt.addr, got, ok, tt.want)
		}
	}

	for _, tt := range []struct {
		name, in, want string
		is             error
	}{
		{"hidden", "0000000000000000 T _stext\n0000000000000000 t helper\n", "hidden", ErrKallsymsHidden},
		{"bad address", "ffffffff81000000 T _stext\nxyz T f\n", "line 2", nil},
		{"short line", "ffffffff81000000 T\n", "line 1", nil},
		{"no text", "ffffffff81000000 D x\n", "no text symbols", nil},
	} {
		_, err := ParseKallsyms(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestReadKallsyms reads this machine's table. Unprivileged readers see
// zero addresses, which must be reported as hidden.
func TestReadKallsyms(t *testing.T) {
	if _, err := os.Stat("/proc/kallsyms"); err != nil {
		t.Skipf("skipping: no /proc/kallsyms: %v", err)
	}
	k, err := ReadKallsyms("/proc/kallsyms")
	if errors.Is(err, ErrKallsymsHidden) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Every kernel has a schedule function with a text address.
	found := false
	for i, n := range k.names {
		if n == "schedule" {
			got, _ := k.Lookup(k.addrs[i] + 1)
			found = got == "schedule"
		}
	}
	if !found || k.Len() < 1000 {
		t.Errorf("kallsyms: %d symbols, schedule found: %v", k.Len(), found)
	}
	s := New(Options{KallsymsPath: "/proc/kallsyms"})
	if k2, err := s.Kallsyms(); err != nil || k2.Len() != k.Len() {
		t.Errorf("Symbolizer.Kallsyms = %v, %v", k2, err)
	}
	if k3, err := New(Options{}).Kallsyms(); k3 != nil || err != nil {
		t.Errorf("Kallsyms without a path = %v, %v; want nil, nil", k3, err)
	}
}
