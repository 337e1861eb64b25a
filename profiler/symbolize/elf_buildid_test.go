package symbolize

import (
	"github.com/vpmu/vpmu/profiler/internal/testprog"

	"encoding/binary"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// note encodes one ELF note.
func note(name string, typ uint32, desc []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(name)+1))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, name...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseNotes(t *testing.T) {
	gnu := note("GNU", ntGNUBuildID, []byte{0xde, 0xad, 0xbe, 0xef})
	goNote := note("Go", ntGoBuildID, []byte("abc/def"))
	other := note("GNU", 1, []byte{1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}) // ABI tag
	tests := []struct {
		name      string
		data      []byte
		gnu, goID string
		wantErr   string
	}{
		{"gnu", gnu, "deadbeef", "", ""},
		{"go", goNote, "", "abc/def", ""},
		{"all", append(append(append([]byte{}, other...), goNote...), gnu...), "deadbeef", "abc/def", ""},
		{"empty", nil, "", "", ""},
		{"truncated header", gnu[:10], "", "", "truncated note header"},
		{"overrun", gnu[:len(gnu)-1], "", "", "overruns"},
		{"huge size", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, gnu[8:]...), "", "", "overruns"},
	}
	for _, tt := range tests {
		g, o, err := parseNotes(tt.data, binary.LittleEndian)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || g != tt.gnu || o != tt.goID {
			t.Errorf("%s: got %q, %q, %v; want %q, %q", tt.name, g, o, err, tt.gnu, tt.goID)
		}
	}
}

// TestBuildIDs compares with readelf -n (GNU) and go tool buildid (Go),
// and checks that a wrong build ID refuses the file.
func TestBuildIDs(t *testing.T) {
	testprog.MustHaveTool(t, "readelf")
	gnuRE := regexp.MustCompile(`Build ID: ([0-9a-f]+)`)
	gnuOf := func(bin string) string {
		m := gnuRE.FindSubmatch(testprog.Run(t, "", nil, "readelf", "-n", bin))
		if m == nil {
			return ""
		}
		return string(m[1])
	}
	cbin := testprog.BuildC(t, "cprog", "-O1", "-Wl,--build-id=sha1")
	gobin := testprog.BuildGo(t, "goprog")
	goOnly := testprog.BuildGo(t, "goprog-nognu", "-ldflags=-B none")
	goID := strings.TrimSpace(string(testprog.Run(t, "", nil, "go", "tool", "buildid", goOnly)))
	tests := []struct {
		name, bin, want string
	}{
		{"gcc", cbin, gnuOf(cbin)},
		{"go with GNU note", gobin, gnuOf(gobin)},
		{"go without GNU note", goOnly, goID},
	}
	for _, tt := range tests {
		if tt.want == "" {
			t.Fatalf("%s: no reference build ID", tt.name)
		}
		s := New(Options{})
		b, err := s.Open(tt.bin, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Info().BuildID; got != tt.want {
			t.Errorf("%s: BuildID = %q, want %q", tt.name, got, tt.want)
		}
		if _, err := s.Open(tt.bin, strings.ToUpper(tt.want)); err != nil && tt.name != "go without GNU note" {
			t.Errorf("%s: Open with the upper-case build ID: %v", tt.name, err)
		}
		if _, err := s.Open(tt.bin, "0123"); !errors.Is(err, ErrBuildIDMismatch) {
			t.Errorf("%s: Open with a wrong build ID: err = %v, want ErrBuildIDMismatch", tt.name, err)
		}
	}
	if gnuOf(goOnly) != "" {
		t.Errorf("-B none left a GNU build ID note")
	}
}
