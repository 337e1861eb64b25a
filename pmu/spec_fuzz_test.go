package pmu

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParseSpec checks that ParseSpec never panics, that every error
// points at a token that is really at its offset, and that every accepted
// spec survives a String/ParseSpec round trip unchanged.
func FuzzParseSpec(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.spec)
	}
	for _, tc := range parseErrorTests {
		f.Add(tc.spec)
	}
	c, err := NewCatalog(fakeSysfs)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSpec(spec, c)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("ParseSpec(%q): error %T is not a *SpecError", spec, err)
			}
			if se.Offset < 0 || se.Offset+len(se.Token) > len(spec) || spec[se.Offset:se.Offset+len(se.Token)] != se.Token {
				t.Fatalf("ParseSpec(%q): token %q is not at offset %d", spec, se.Token, se.Offset)
			}
			if se.Msg == "" {
				t.Fatalf("ParseSpec(%q): empty message", spec)
			}
			return
		}
		if len(s.Groups) == 0 {
			t.Fatalf("ParseSpec(%q) accepted an empty spec", spec)
		}
		for _, g := range s.Groups {
			if len(g.Events) == 0 {
				t.Fatalf("ParseSpec(%q) made an empty group", spec)
			}
			for _, e := range g.Events {
				var st modState
				if err := st.eval(e.Modifiers); err != nil {
					t.Fatalf("ParseSpec(%q): event %s has invalid modifiers: %v", spec, e, err)
				}
				if got := st.apply(e, e.Modifiers); got != e {
					t.Fatalf("ParseSpec(%q): modifiers %q of %s mean %+v, event has %+v", spec, e.Modifiers, e.Name, got, e)
				}
			}
		}
		again, err := ParseSpec(s.String(), c)
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %q, which does not parse: %v", spec, s.String(), err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip of %q via %q:\n\t%+v\n!=\t%+v", spec, s.String(), again, s)
		}
	})
}

func BenchmarkParseSpec(b *testing.B) {
	c, err := NewCatalog(fakeSysfs)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, spec string }{
		{"simple", "cycles"},
		{"list", "cycles:u,instructions:u,branches,branch-misses,task-clock,cs"},
		{"group", "{cycles,instructions,L1-dcache-load-misses}:u"},
		{"pmu", "cpu/event=0x3c,umask=0x0,cmask=1/u,cpu/mem-loads,ldlat=30/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseSpec(bc.spec, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
