package pmu

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Shorthands for expected events.
func hwEv(name string, config uint64) Event {
	return Event{Name: name, Kind: KindHardware, Type: 0, Config: config}
}

func swEv(name string, config uint64) Event {
	e := Event{Name: name, Kind: KindSoftware, Type: 1, Config: config}
	if name == "task-clock" || name == "cpu-clock" {
		e.Unit = "ns"
	}
	return e
}

func pmuEv(name string, typ uint32, pmu string, config uint64) Event {
	return Event{Name: name, Kind: KindPMU, Type: typ, PMU: pmu, Config: config}
}

// mod returns e with modifier text, exclude bits and precise level set.
func mod(e Event, text string, x Exclude, precise uint8) Event {
	e.Modifiers, e.Exclude, e.Precise = text, x, precise
	return e
}

func single(evs ...Event) []Group {
	var gs []Group
	for _, e := range evs {
		gs = append(gs, Group{Events: []Event{e}})
	}
	return gs
}

func grp(evs ...Event) Group { return Group{Events: evs, Explicit: true} }

const (
	xU  = ExcludeUser
	xK  = ExcludeKernel
	xHV = ExcludeHV
	xG  = ExcludeGuest
	xH  = ExcludeHost
	xI  = ExcludeIdle
)

var parseTests = []struct {
	spec   string
	str    string // want Spec.String(); "" means spec itself
	groups []Group
}{
	{"cycles", "", single(hwEv("cycles", 0))},
	{"cpu-cycles,instructions", "", single(hwEv("cpu-cycles", 0), hwEv("instructions", 1))},
	{" cycles , instructions\t", "cycles,instructions", single(hwEv("cycles", 0), hwEv("instructions", 1))},
	{"cycles:u", "", single(mod(hwEv("cycles", 0), "u", xK|xHV, 0))},
	{"cycles:k", "", single(mod(hwEv("cycles", 0), "k", xU|xHV, 0))},
	{"cycles:h", "", single(mod(hwEv("cycles", 0), "h", xU|xK, 0))},
	{"cycles:uk", "", single(mod(hwEv("cycles", 0), "uk", xHV, 0))},
	{"cycles:ku", "", single(mod(hwEv("cycles", 0), "ku", xHV, 0))},
	{"cycles:ukh", "", single(mod(hwEv("cycles", 0), "ukh", 0, 0))},
	{"cycles:G", "", single(mod(hwEv("cycles", 0), "G", xH, 0))},
	{"cycles:H", "", single(mod(hwEv("cycles", 0), "H", xG, 0))},
	{"cycles:GH", "", single(mod(hwEv("cycles", 0), "GH", 0, 0))},
	{"cycles:uG", "", single(mod(hwEv("cycles", 0), "uG", xK|xHV|xH, 0))},
	{"cycles:I", "", single(mod(hwEv("cycles", 0), "I", xI, 0))},
	{"cycles:p", "", single(mod(hwEv("cycles", 0), "p", 0, 1))},
	{"cycles:upp", "", single(mod(hwEv("cycles", 0), "upp", xK|xHV, 2))},
	{"cycles:pup", "", single(mod(hwEv("cycles", 0), "pup", xK|xHV, 2))},
	{"cycles:ppp", "", single(mod(hwEv("cycles", 0), "ppp", 0, 3))},
	{"cycles:P", "", single(func() Event { e := mod(hwEv("cycles", 0), "P", 0, 0); e.PreciseMax = true; return e }())},
	{"cycles:D", "", single(func() Event { e := mod(hwEv("cycles", 0), "D", 0, 0); e.Pinned = true; return e }())},
	{"task-clock:u,cs:k", "", single(mod(swEv("task-clock", 1), "u", xK|xHV, 0), mod(swEv("cs", 3), "k", xU|xHV, 0))},
	{"{cycles,instructions}", "", []Group{grp(hwEv("cycles", 0), hwEv("instructions", 1))}},
	{"{cycles}", "", []Group{grp(hwEv("cycles", 0))}},
	{"{ cycles , instructions }", "{cycles,instructions}", []Group{grp(hwEv("cycles", 0), hwEv("instructions", 1))}},
	{"{cycles,instructions}:u", "{cycles:u,instructions:u}", []Group{grp(mod(hwEv("cycles", 0), "u", xK|xHV, 0), mod(hwEv("instructions", 1), "u", xK|xHV, 0))}},
	// The group's letters apply on top of the member's own, as in perf.
	{"{cycles:k,instructions}:u", "{cycles:ku,instructions:u}", []Group{grp(mod(hwEv("cycles", 0), "ku", xHV, 0), mod(hwEv("instructions", 1), "u", xK|xHV, 0))}},
	// perf recomputes "a domain was named" per string: ukh then u is user only.
	{"{task-clock:ukh,cs}:u", "{task-clock:u,cs:u}", []Group{grp(mod(swEv("task-clock", 1), "u", xK|xHV, 0), mod(swEv("cs", 3), "u", xK|xHV, 0))}},
	{"{cycles:u,instructions}:u", "{cycles:u,instructions:u}", []Group{grp(mod(hwEv("cycles", 0), "u", xK|xHV, 0), mod(hwEv("instructions", 1), "u", xK|xHV, 0))}},
	{"{cycles:G,instructions}:H", "{cycles:GH,instructions:H}", []Group{grp(mod(hwEv("cycles", 0), "GH", 0, 0), mod(hwEv("instructions", 1), "H", xG, 0))}},
	{"{cycles:H,instructions}:H", "{cycles:H,instructions:H}", []Group{grp(mod(hwEv("cycles", 0), "H", xG, 0), mod(hwEv("instructions", 1), "H", xG, 0))}},
	{"{cycles:pp,instructions:p}:p", "{cycles:ppp,instructions:pp}", []Group{grp(mod(hwEv("cycles", 0), "ppp", 0, 3), mod(hwEv("instructions", 1), "pp", 0, 2))}},
	{"{cycles:I,branches}:kI", "{cycles:kI,branches:kI}", []Group{grp(mod(hwEv("cycles", 0), "kI", xU|xHV|xI, 0), mod(hwEv("branches", 4), "kI", xU|xHV|xI, 0))}},
	{"cycles,{instructions,branches}:u,task-clock", "cycles,{instructions:u,branches:u},task-clock",
		[]Group{{Events: []Event{hwEv("cycles", 0)}}, grp(mod(hwEv("instructions", 1), "u", xK|xHV, 0), mod(hwEv("branches", 4), "u", xK|xHV, 0)), {Events: []Event{swEv("task-clock", 1)}}}},
	{"r01c2", "", single(Event{Name: "r01c2", Kind: KindRaw, Type: 4, Config: 0x1c2})},
	{"r1C2:u", "r1c2:u", single(mod(Event{Name: "r1c2", Kind: KindRaw, Type: 4, Config: 0x1c2}, "u", xK|xHV, 0))},
	{"r0", "", single(Event{Name: "r0", Kind: KindRaw, Type: 4})},
	{"rffffffffffffffff", "", single(Event{Name: "rffffffffffffffff", Kind: KindRaw, Type: 4, Config: ^uint64(0)})},
	{"L1-dcache-load-misses:k", "", single(mod(Event{Name: "L1-dcache-load-misses", Kind: KindHWCache, Type: 3, Config: 0x10000}, "k", xU|xHV, 0))},
	{"l1d-load-miss", "", single(Event{Name: "l1d-load-miss", Kind: KindHWCache, Type: 3, Config: 0x10000})},
	{"LLC-misses,dTLB-stores", "", single(Event{Name: "LLC-misses", Kind: KindHWCache, Type: 3, Config: 0x10002}, Event{Name: "dTLB-stores", Kind: KindHWCache, Type: 3, Config: 0x103})},
	{"syscalls,vm-exits:u", "", single(Event{Name: "syscalls", Kind: KindVirtual, Config: 1}, mod(Event{Name: "vm-exits", Kind: KindVirtual, Config: 2}, "u", xK|xHV, 0))},
	{"cpu/event=0x3c,umask=0x0/", "", single(pmuEv("cpu/event=0x3c,umask=0x0/", 4, "cpu", 0x3c))},
	{"cpu/event=0x3c/u", "cpu/event=0x3c/:u", single(mod(pmuEv("cpu/event=0x3c/", 4, "cpu", 0x3c), "u", xK|xHV, 0))},
	{"cpu/event=0x3c/:u", "", single(mod(pmuEv("cpu/event=0x3c/", 4, "cpu", 0x3c), "u", xK|xHV, 0))},
	{"cpu/ event = 60 , umask=1 /", "cpu/event=60,umask=1/", single(pmuEv("cpu/event=60,umask=1/", 4, "cpu", 0x13c))},
	{"cpu/event=0x3c,inv,cmask=1,edge/", "", single(pmuEv("cpu/event=0x3c,inv,cmask=1,edge/", 4, "cpu", 0x3c|1<<23|1<<24|1<<18))},
	{"cpu/event=1,event=2/", "", single(pmuEv("cpu/event=1,event=2/", 4, "cpu", 2))},
	{"cpu/config=0x1234,config1=5,config2=0x6/", "", single(Event{Name: "cpu/config=0x1234,config1=5,config2=0x6/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x1234, Config1: 5, Config2: 6})},
	{"cpu/config=0xff00,event=0x3c/", "", single(pmuEv("cpu/config=0xff00,event=0x3c/", 4, "cpu", 0xff3c))},
	{"cpu/cpu-cycles/", "", single(pmuEv("cpu/cpu-cycles/", 4, "cpu", 0x3c))},
	{"cpu/CPU-Cycles/k", "cpu/cpu-cycles/:k", single(mod(pmuEv("cpu/cpu-cycles/", 4, "cpu", 0x3c), "k", xU|xHV, 0))},
	{"cpu/cpu-cycles,umask=1/", "", single(pmuEv("cpu/cpu-cycles,umask=1/", 4, "cpu", 0x13c))},
	{"cpu/mem-loads,ldlat=30/", "", single(Event{Name: "cpu/mem-loads,ldlat=30/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x1cd, Config1: 30})},
	{"cpu/event=0x3c,name=loops/", "", single(pmuEv("cpu/event=0x3c,name=loops/", 4, "cpu", 0x3c))},
	{"cpu/topdown-total-slots/", "", single(Event{Name: "cpu/topdown-total-slots/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x3c | 1<<21, Scale: 2})},
	{"software/config=1/", "", single(pmuEv("software/config=1/", 1, "software", 1))},
	{"amd_df/event=0x7c7,umask=2/", "", single(pmuEv("amd_df/event=0x7c7,umask=2/", 11, "amd_df", 0x7000002c7))},
	{"hv_24x7/PM_PB_CYC,core=3/", "", single(Event{Name: "hv_24x7/PM_PB_CYC,core=3/", Kind: KindPMU, Type: 12, PMU: "hv_24x7", Config: 2 | 3<<16 | 0xe0<<32})},
	{"tsc", "msr/tsc/", single(pmuEv("msr/tsc/", 9, "msr", 0))},
	{"tsc:u,aperf", "msr/tsc/:u,msr/aperf/", single(mod(pmuEv("msr/tsc/", 9, "msr", 0), "u", xK|xHV, 0), pmuEv("msr/aperf/", 9, "msr", 1))},
	{"cas_count_read:u", "uncore_imc_0/cas_count_read/:u,uncore_imc_1/cas_count_read/:u", single(
		mod(Event{Name: "uncore_imc_0/cas_count_read/", Kind: KindPMU, Type: 16, PMU: "uncore_imc_0", Config: 0x304, Unit: "MiB", Scale: 6.103515625e-5}, "u", xK|xHV, 0),
		mod(Event{Name: "uncore_imc_1/cas_count_read/", Kind: KindPMU, Type: 17, PMU: "uncore_imc_1", Config: 0x304, Unit: "MiB", Scale: 6.103515625e-5}, "u", xK|xHV, 0))},
	{"{uncore_imc/clockticks/,cycles}", "{uncore_imc_0/clockticks/,uncore_imc_1/clockticks/,cycles}", []Group{grp(
		pmuEv("uncore_imc_0/clockticks/", 16, "uncore_imc_0", 0), pmuEv("uncore_imc_1/clockticks/", 17, "uncore_imc_1", 0), hwEv("cycles", 0))}},
	{"uncore_imc_1/event=4,umask=3/", "", single(pmuEv("uncore_imc_1/event=4,umask=3/", 17, "uncore_imc_1", 0x304))},
}

func TestParseSpec(t *testing.T) {
	c := fakeCatalog(t)
	for _, tc := range parseTests {
		s, err := ParseSpec(tc.spec, c)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(s.Groups, tc.groups) {
			t.Errorf("ParseSpec(%q) =\n\t%+v\nwant\n\t%+v", tc.spec, s.Groups, tc.groups)
		}
		want := tc.str
		if want == "" {
			want = tc.spec
		}
		if s.String() != want {
			t.Errorf("ParseSpec(%q).String() = %q, want %q", tc.spec, s.String(), want)
		}
		again, err := ParseSpec(s.String(), c)
		if err != nil {
			t.Errorf("round trip of %q: ParseSpec(%q): %v", tc.spec, s.String(), err)
		} else if !reflect.DeepEqual(again, s) {
			t.Errorf("round trip of %q:\n\t%+v\n!=\t%+v", tc.spec, again, s)
		}
	}
}

var parseErrorTests = []struct {
	spec   string
	offset int
	token  string
	msg    string
}{
	{"", 0, "", "empty event spec"},
	{"   ", 3, "", "empty event spec"},
	{"cycles,", 7, "", "missing event after ','"},
	{"cycles, ", 8, "", "missing event after ','"},
	{",cycles", 0, "", "empty event before ','"},
	{"cycles,,instructions", 7, "", "empty event before ','"},
	{"cycles, ,instructions", 8, "", "empty event before ','"},
	{"bogus", 0, "bogus", `unknown event "bogus"`},
	{"cycles,bogus:u", 7, "bogus", `unknown event "bogus"`},
	{"CYCLES", 0, "CYCLES", `did you mean "cpu-cycles"`},
	{"Task-Clock", 0, "Task-Clock", `did you mean "task-clock"`},
	{"R1c2", 0, "R1c2", "lower-case r"},
	{"cycles:x", 7, "x", `unknown modifier "x"; valid modifiers: u k h G H I p P D`},
	{"cycles:uxk", 8, "x", `unknown modifier "x"`},
	{"cycles:u:k", 8, ":", `unknown modifier ":"`},
	{"cycles:uü", 8, "ü", `unknown modifier "ü"`},
	{"cycles:uu", 8, "u", `modifier "u" given twice`},
	{"cycles:GkG", 9, "G", `modifier "G" given twice`},
	{"cycles:pppp", 10, "p", "precise level above 3"},
	{"cycles:S", 7, "S", "sampling option"},
	{"cycles:W", 7, "W", "weak group"},
	{"cycles:e", 7, "e", "exclusive"},
	{"cycles:b", 7, "b", "BPF"},
	{"cycles:", 6, ":", "empty modifier after ':'"},
	{"cycles:,instructions", 6, ":", "empty modifier after ':'"},
	{":u", 0, "", "missing event name before ':'"},
	{"{cycles", 0, "{", "unbalanced '{': missing '}'"},
	{"cycles,{instructions,branches", 7, "{", "unbalanced '{'"},
	{"{cycles,", 0, "{", "unbalanced '{'"},
	{"cycles}", 6, "}", "unbalanced '}'"},
	{"}", 0, "}", "unbalanced '}'"},
	{"{cycles},}", 9, "}", "unbalanced '}'"},
	{"{cycles,{instructions}}", 8, "{", "nested groups are not allowed"},
	{"{{cycles}}", 1, "{", "nested groups"},
	{"{cycles{instructions}}", 7, "{", "nested groups"},
	{"{}", 0, "{}", "empty group"},
	{"{ }", 0, "{ }", "empty group"},
	{"{cycles,}", 8, "", "missing event before '}'"},
	{"{,cycles}", 1, "", "empty event before ','"},
	{"{cycles}:", 8, ":", "empty modifier"},
	{"{cycles}:x", 9, "x", "unknown modifier"},
	{"{cycles:pp}:pp", 13, "p", "precise level above 3"},
	{"{cycles}:uu", 10, "u", "given twice"},
	{"{cycles}x", 8, "x", `unexpected "x"`},
	{"cycles instructions", 7, "i", `unexpected "i": events are separated by ','`},
	{"r0x1c2", 0, "r0x1c2", "without 0x (r1c2)"},
	{"r1c2g", 0, "r1c2g", `bad hex digit "g"`},
	{"cycles,r12345678901234567", 7, "r12345678901234567", "more than 16 hex digits"},
	{"nope/event=1/", 0, "nope", `unknown PMU "nope"; PMUs here: amd_df, breakpoint, cpu,`},
	{"cycles,nope/event=1/u", 7, "nope", `unknown PMU "nope"`},
	{"uncore/event=1/", 0, "uncore", `unknown PMU "uncore"`},
	{"/event=1/", 0, "/", "missing PMU name"},
	{"cpu/event=0x3c", 0, "cpu/event=0x3c", "missing closing '/'"},
	{"cpu//", 4, "", "no terms between the slashes"},
	{"cpu/ /", 4, "", "no terms between the slashes"},
	{"cpu/event=0x3c,/", 15, "", "empty term"},
	{"cpu/,event=0x3c/", 4, "", "empty term"},
	{"cpu/foo=1/", 4, "foo=1", `unknown term "foo" for PMU cpu; known terms: any, cmask, edge, event, in_tx, in_tx_cp, inv, ldlat, pc, umask, config, config1, config2, name, or an event name from cpu/events`},
	{"cpu/event=0x3c, foo/", 16, "foo", `unknown term "foo"`},
	{"msr/foo=1/", 4, "foo=1", "known terms: event, config, config1, config2, name, or an event name from msr/events"},
	{"software/event=1/", 9, "event=1", "known terms: config, config1, config2, name"},
	{"cpu/event=0x100/", 4, "event=0x100", "does not fit in 8 bits (config:0-7)"},
	{"cpu/event = 0x100/", 4, "event = 0x100", "does not fit in 8 bits"},
	{"cpu/event=zz/", 4, "event=zz", `bad number "zz"`},
	{"cpu/event=/", 4, "event=", "empty value"},
	{"cpu/config=0x10000000000000000/", 4, "config=0x10000000000000000", "does not fit in 64 bits"},
	{"cpu/period=1000/", 4, "period=1000", "sampling option"},
	{"cpu/event=1,freq=99/", 12, "freq=99", "sampling option"},
	{"cpu/inherit/", 4, "inherit", "not supported"},
	{"cpu/config3=1/", 4, "config3=1", "not supported"},
	{"cpu/config/", 4, "config", "needs a value"},
	{"cpu/name/", 4, "name", "needs a value"},
	{"cpu/=1/", 4, "=1", "term has no name"},
	{"cpu/event=0x3c,umask=0x1 0/", 15, "umask=0x1 0", "bad number"},
	{"cpu/ev ent=1/", 4, "ev ent=1", "white space inside a term"},
	{"cpu/cpu-cycles=1/", 4, "cpu-cycles=1", `unknown term "cpu-cycles"`},
	{"cpu/cpu-cycles,instructions/", 15, "instructions", "more than one event alias"},
	{"cpu/event=0x3c/x", 15, "x", "unknown modifier"},
	{"cpu/event=0x3c/uu", 16, "u", "given twice"},
	{"cpu/event=0x3c/:", 15, ":", "empty modifier"},
	{"hv_24x7/PM_PB_CYC/", 8, "PM_PB_CYC", "needs parameter core: write hv_24x7/PM_PB_CYC,core=N/"},
	{"PM_PB_CYC", 0, "PM_PB_CYC", "needs parameter core"},
	{"hv_24x7/PM_PB_CYC,core=?/", 18, "core=?", "marks a parameter"},
	{"sched:sched_switch", 0, "sched:sched_switch", "tracepoint events are not supported"},
	{"cycles,syscalls:sys_enter_read", 7, "syscalls:sys_enter_read", "tracepoint"},
}

func TestParseSpecErrors(t *testing.T) {
	c := fakeCatalog(t)
	for _, tc := range parseErrorTests {
		s, err := ParseSpec(tc.spec, c)
		if err == nil {
			t.Errorf("ParseSpec(%q) = %v, want error", tc.spec, s)
			continue
		}
		var se *SpecError
		if !errors.As(err, &se) {
			t.Errorf("ParseSpec(%q) error %T %v is not a *SpecError", tc.spec, err, err)
			continue
		}
		if se.Spec != tc.spec || se.Offset != tc.offset || se.Token != tc.token || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("ParseSpec(%q) error:\n\tgot  offset %d token %q msg %q\n\twant offset %d token %q msg ~ %q",
				tc.spec, se.Offset, se.Token, se.Msg, tc.offset, tc.token, tc.msg)
		}
	}
}

func TestSpecErrorCaret(t *testing.T) {
	_, err := ParseSpec("cycles,bogus", fakeCatalog(t))
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	want := "cycles,bogus\n       ^^^^^"
	if se.Caret() != want {
		t.Errorf("Caret() =\n%s\nwant\n%s", se.Caret(), want)
	}
	if got := err.Error(); got != `event spec "cycles,bogus": unknown event "bogus"; see vpmu list at offset 7 ("bogus")` {
		t.Errorf("Error() = %s", got)
	}
}

// TestModifierCanonical checks that the canonical text of every reachable
// modifier state means that state on its own.
func TestModifierCanonical(t *testing.T) {
	letters := []string{"", "u", "k", "h", "uk", "kh", "uh", "ukh", "G", "H", "GH", "p", "pp", "I", "D", "P", "uG", "kH", "uI"}
	for _, own := range letters {
		for _, group := range letters {
			var st modState
			p := &specParser{}
			if err := p.applyMods(&st, own, 0); err != nil {
				t.Fatal(err)
			}
			if err := p.applyMods(&st, group, 0); err != nil {
				continue // e.g. precise above 3
			}
			canon := st.canonical()
			var again modState
			if err := again.eval(canon); err != nil {
				t.Errorf("%q then %q: canonical %q does not parse: %v", own, group, canon, err)
				continue
			}
			e1, e2 := st.apply(Event{}, ""), again.apply(Event{}, "")
			if e1 != e2 {
				t.Errorf("%q then %q: canonical %q gives %+v, want %+v", own, group, canon, e2, e1)
			}
		}
	}
}

func TestDisplayName(t *testing.T) {
	c := fakeCatalog(t)
	for spec, want := range map[string]string{
		"cpu/event=0x3c,name=loops/u": "loops",
		"cpu/event=0x3c/u":            "cpu/event=0x3c/:u",
		"cycles:u":                    "cycles:u",
		"tsc":                         "msr/tsc/",
	} {
		s, err := ParseSpec(spec, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Events()[0].DisplayName(); got != want {
			t.Errorf("DisplayName of %q = %q, want %q", spec, got, want)
		}
	}
}

func TestParseSpecDefaultCatalog(t *testing.T) {
	s, err := ParseSpec("cycles:u,{task-clock,cs}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "cycles:u,{task-clock,cs}" {
		t.Errorf("String() = %q", got)
	}
	if s := MustParseSpec("instructions"); len(s.Events()) != 1 {
		t.Errorf("MustParseSpec = %v", s)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParseSpec(bogus) did not panic")
		}
	}()
	MustParseSpec("bogus")
}
