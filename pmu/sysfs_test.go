package pmu

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		text  string
		field configField
		mask  uint64
	}{
		{"config:0-7", fieldConfig, 0xff},
		{"config:0-7\n", fieldConfig, 0xff},
		{"config1:0-15", fieldConfig1, 0xffff},
		{"config2:5", fieldConfig2, 1 << 5},
		{"config:63", fieldConfig, 1 << 63},
		{"config:0-63", fieldConfig, ^uint64(0)},
		{"config:0-7,32-35", fieldConfig, 0xf000000ff},
		{"config:0-7,32-35,59-60", fieldConfig, 0x1800000f000000ff},
		{"config:8-15,0-7", fieldConfig, 0xffff},
		{"config3:0-3", fieldConfig3, 0xf},
	} {
		f, err := parseFormat("x", tc.text)
		if err != nil {
			t.Errorf("parseFormat(%q): %v", tc.text, err)
			continue
		}
		if f.field != tc.field || f.mask != tc.mask {
			t.Errorf("parseFormat(%q) = %v %#x, want %v %#x", tc.text, f.field, f.mask, tc.field, tc.mask)
		}
	}
	for _, text := range []string{
		"", "config", "config:", "config:x", "config:0-", "config:-1", "config:7-0", "config:64",
		"config:0-64", "config:0-7,", "config:0-7,4-5", "config:3,3", "conf:0-7", "config4:1",
		"config:0-7:8", "config: 0-7", "config:007", "config:+1",
	} {
		if f, err := parseFormat("x", text); err == nil {
			t.Errorf("parseFormat(%q) = %+v, want error", text, f)
		} else if !errors.Is(err, errFormatSyntax) {
			t.Errorf("parseFormat(%q) error %v does not wrap errFormatSyntax", text, err)
		}
	}
}

func TestFormatEncode(t *testing.T) {
	f, err := parseFormat("event", "config:0-7,32-35,59-60")
	if err != nil {
		t.Fatal(err)
	}
	if f.width() != 14 {
		t.Fatalf("width = %d, want 14", f.width())
	}
	for _, tc := range []struct{ v, want uint64 }{
		{0, 0},
		{0xc7, 0xc7},
		{0x7c7, 0x7000000c7},
		{0x3fff, 0x1800000f000000ff},
		{0x1000, 1 << 59},
	} {
		got, err := f.encode(tc.v)
		if err != nil || got != tc.want {
			t.Errorf("encode(%#x) = %#x, %v; want %#x", tc.v, got, err, tc.want)
		}
		if back := f.decode(got); back != tc.v {
			t.Errorf("decode(encode(%#x)) = %#x", tc.v, back)
		}
	}
	if _, err := f.encode(0x4000); err == nil || !strings.Contains(err.Error(), "does not fit in 14 bits") {
		t.Errorf("encode(0x4000) error = %v, want does not fit", err)
	}
	full, _ := parseFormat("event", "config:0-63")
	if got, err := full.encode(^uint64(0)); err != nil || got != ^uint64(0) {
		t.Errorf("64-bit encode = %#x, %v", got, err)
	}
}

func TestParseTermValue(t *testing.T) {
	for s, want := range map[string]uint64{"0": 0, "60": 60, "0x3c": 0x3c, "0X3C": 0x3c, "0xffffffffffffffff": ^uint64(0), "18446744073709551615": ^uint64(0)} {
		if got, err := parseTermValue(s); err != nil || got != want {
			t.Errorf("parseTermValue(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0x", "x3c", "-1", "+1", "0x-1", "1e3", "0x10000000000000000", "18446744073709551616", "abc"} {
		if v, err := parseTermValue(s); err == nil {
			t.Errorf("parseTermValue(%q) = %d, want error", s, v)
		}
	}
}

// writeTree creates files (path -> content) under a new sysfs root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, devicesDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDiscoverErrors(t *testing.T) {
	good := map[string]string{
		"cpu/type":         "4\n",
		"cpu/format/event": "config:0-7\n",
		"cpu/format/umask": "config:8-15\n",
		"cpu/events/a":     "event=0x3c\n",
	}
	for _, tc := range []struct {
		name    string
		set     map[string]string // files added to (or replacing) good
		badFile string            // the file the error must name
		msg     string
	}{
		{"no type", map[string]string{"x/format/event": "config:0-7"}, "x/type", "no such file"},
		{"bad type", map[string]string{"cpu/type": "four"}, "cpu/type", "bad PMU type"},
		{"negative type", map[string]string{"cpu/type": "-1"}, "cpu/type", "bad PMU type"},
		{"empty type", map[string]string{"cpu/type": "\n"}, "cpu/type", "empty file"},
		{"bad format range", map[string]string{"cpu/format/edge": "config:18-"}, "cpu/format/edge", "bad bit number"},
		{"format bit 64", map[string]string{"cpu/format/edge": "config:64"}, "cpu/format/edge", "want 0-63"},
		{"format field", map[string]string{"cpu/format/edge": "confug:18"}, "cpu/format/edge", "unknown field"},
		{"format overlap", map[string]string{"cpu/format/edge": "config:0-7,4"}, "cpu/format/edge", "overlaps"},
		{"alias unknown term", map[string]string{"cpu/events/b": "event=0x3c,foo=1"}, "cpu/events/b", `unknown term "foo"`},
		{"alias too big", map[string]string{"cpu/events/b": "event=0x1ff"}, "cpu/events/b", "does not fit in 8 bits"},
		{"alias bad number", map[string]string{"cpu/events/b": "event=0xzz"}, "cpu/events/b", "bad number"},
		{"alias empty term", map[string]string{"cpu/events/b": "event=0x1,,umask=2"}, "cpu/events/b", "empty term"},
		{"alias empty", map[string]string{"cpu/events/b": "  \n"}, "cpu/events/b", "empty file"},
		{"alias sampling term", map[string]string{"cpu/events/b": "event=0x1,period=100"}, "cpu/events/b", "sampling option"},
		{"orphan scale", map[string]string{"cpu/events/zz.scale": "2"}, "cpu/events/zz.scale", ".scale file without event zz"},
		{"bad scale", map[string]string{"cpu/events/a.scale": "two"}, "cpu/events/a.scale", "bad scale"},
		{"zero scale", map[string]string{"cpu/events/a.scale": "0"}, "cpu/events/a.scale", "bad scale"},
		{"inf scale", map[string]string{"cpu/events/a.scale": "inf"}, "cpu/events/a.scale", "bad scale"},
		{"bad per-pkg", map[string]string{"cpu/events/a.per-pkg": "yes"}, "cpu/events/a.per-pkg", "want 0 or 1"},
		{"bad snapshot", map[string]string{"cpu/events/a.snapshot": "2"}, "cpu/events/a.snapshot", "want 0 or 1"},
		{"device is a file", map[string]string{"plain": "x"}, "plain", "not a directory"},
		{"huge file", map[string]string{"cpu/events/a.unit": strings.Repeat("M", 5000)}, "cpu/events/a.unit", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range good {
				files[k] = v
			}
			for k, v := range tc.set {
				files[k] = v
			}
			root := writeTree(t, files)
			c, err := NewCatalog(root)
			if err == nil {
				t.Fatalf("NewCatalog succeeded with PMUs %v, want error", c.PMUs())
			}
			if !errors.Is(err, ErrSysfs) {
				t.Errorf("error %v does not match ErrSysfs", err)
			}
			var se *SysfsError
			if !errors.As(err, &se) || se.Path != filepath.Join(root, devicesDir, tc.badFile) {
				t.Errorf("error %v does not name %s", err, tc.badFile)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
	// The good tree itself is fine.
	if _, err := NewCatalog(writeTree(t, good)); err != nil {
		t.Fatalf("good tree: %v", err)
	}
}

func TestDiscoverParams(t *testing.T) {
	root := writeTree(t, map[string]string{
		"hv/type":          "12",
		"hv/format/core":   "config:16-31",
		"hv/format/domain": "config:0-3",
		"hv/events/x":      "domain=2,core=?",
		"hv/events/y":      "domain=2,period=?",
	})
	c, err := NewCatalog(root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpec("hv/x,core=7/", c)
	if err != nil {
		t.Fatal(err)
	}
	if e := s.Events()[0]; e.Config != 2|7<<16 {
		t.Errorf("hv/x,core=7/ config = %#x", e.Config)
	}
	// A parameter given before the alias counts too.
	if s, err := ParseSpec("hv/core=7,x/", c); err != nil || s.Events()[0].Config != 2|7<<16 {
		t.Errorf("hv/core=7,x/ = %v, %v", s, err)
	}
	for spec, msg := range map[string]string{
		"hv/x/":          "needs parameter core: write hv/x,core=N/",
		"x":              "needs parameter core",
		"hv/y,period=1/": "sampling option",
		"hv/x,core=?/":   "marks a parameter in a sysfs event file",
	} {
		if _, err := ParseSpec(spec, c); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseSpec(%q) error = %v, want %q", spec, err, msg)
		}
	}
}

// FuzzParseFormat checks that parseFormat never panics and that the
// formats it accepts encode and decode values consistently.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"config:0-7", "config1:0-15", "config:0-7,32-35", "config:63", "config2:0-63", "config:8-15,0-7", "config:7-0", "config:"} {
		f.Add(s, uint64(0x1234567))
	}
	f.Fuzz(func(t *testing.T, text string, v uint64) {
		fm, err := parseFormat("x", text)
		if err != nil {
			return
		}
		if fm.mask == 0 {
			t.Fatalf("parseFormat(%q) accepted an empty mask", text)
		}
		w := fm.width()
		if w < 64 {
			v &= 1<<w - 1
		}
		enc, err := fm.encode(v)
		if err != nil {
			t.Fatalf("encode(%#x) with width %d: %v", v, w, err)
		}
		if enc&^fm.mask != 0 {
			t.Fatalf("encode(%#x) = %#x sets bits outside mask %#x", v, enc, fm.mask)
		}
		if back := fm.decode(enc); back != v {
			t.Fatalf("decode(encode(%#x)) = %#x", v, back)
		}
	})
}

// FuzzSysfsAlias checks that alias contents never panic the term resolver
// and that accepted ones only set bits the formats allow.
func FuzzSysfsAlias(f *testing.F) {
	c, err := NewCatalog(fakeSysfs)
	if err != nil {
		f.Fatal(err)
	}
	cpu := c.pmus["cpu"]
	for _, s := range []string{"event=0x3c", "event=0xc0,umask=0x01", "event=0xcd,umask=0x1,ldlat=3", "event=0x1,period=?", "any", "config=0x1234,config1=5", "event=0x1ff", "name=foo,event=1"} {
		f.Add(s)
	}
	var allowed [3]uint64
	for _, fm := range cpu.formats {
		allowed[fm.field] |= fm.mask
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms, terr := splitTerms(s, 0)
		if terr != nil {
			return
		}
		r, terr := cpu.resolve(terms, true)
		if terr != nil {
			if terr.msg == "" {
				t.Fatalf("resolve(%q): empty error message", s)
			}
			return
		}
		for _, term := range terms {
			if isConfigTerm(term.name) {
				return // config= sets any bit
			}
		}
		for i := range r.cfg {
			if r.cfg[i]&^allowed[i] != 0 {
				t.Fatalf("resolve(%q) set %s bits %#x outside the formats", s, configField(i), r.cfg[i]&^allowed[i])
			}
		}
	})
}
