package pmu

import (
	"strings"
	"unicode/utf8"
)

// modState is what perf tracks while it applies modifier letters to an
// event (tools/perf/util/parse-events.c, get_event_modifier): the exclude
// bits, whether a G/H letter has been seen, and the precise level.
//
// perf (up to at least 6.1) also sets exclude_guest on every event by
// default, and again for the letters u and p, unless G or H is given. That
// is the perf tool's host policy, not the meaning of the letters, and vpmu
// leaves it to the source: here ExcludeGuest and ExcludeHost come only
// from G and H.
type modState struct {
	eu, ek, eh, eG, eH, eI bool
	gh                     bool // a G or H letter was applied (perf's exclude_GH)
	precise                int
	preciseMax, pinned     bool
}

// rejectedMods are perf modifier letters vpmu refuses, with the reason.
var rejectedMods = map[rune]string{
	'S': "modifier 'S' (read the group when the leader samples) is a sampling option; event specs are counting-only",
	'W': "modifier 'W' (weak group) is not supported: vpmu opens a group whole or reports it not supported",
	'e': "modifier 'e' (exclusive use of the PMU) is not supported",
	'b': "modifier 'b' (count with a BPF program) is not supported",
}

// validMods lists the accepted letters for messages.
const validMods = "u k h G H I p P D"

// applyMods applies a modifier string to st the way perf does. A letter
// other than p may appear once per string; p may repeat up to precise
// level 3. off is the offset of text in the spec, for errors.
func (p *specParser) applyMods(st *modState, text string, off int) error {
	// perf recomputes "some domain was named" from the exclude bits each
	// time a modifier string is applied; G/H stickiness lives in st.gh.
	excl := st.eu || st.ek || st.eh
	setDomains := func() {
		if !excl {
			excl, st.eu, st.ek, st.eh = true, true, true, true
		}
	}
	var seen [128]bool
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		at, tok := off+i, text[i:i+n]
		i += n
		if r < 128 && r != 'p' && seen[r] {
			return p.fail(at, tok, "modifier %q given twice", tok)
		}
		if r < 128 {
			seen[r] = true
		}
		switch r {
		case 'u':
			setDomains()
			st.eu = false
		case 'k':
			setDomains()
			st.ek = false
		case 'h':
			setDomains()
			st.eh = false
		case 'G':
			if !st.gh {
				st.gh, st.eG, st.eH = true, true, true
			}
			st.eG = false
		case 'H':
			if !st.gh {
				st.gh, st.eG, st.eH = true, true, true
			}
			st.eH = false
		case 'I':
			st.eI = true
		case 'p':
			st.precise++
			if st.precise > 3 {
				return p.fail(at, tok, "precise level above 3 (at most ppp)")
			}
		case 'P':
			st.preciseMax = true
		case 'D':
			st.pinned = true
		default:
			if why, ok := rejectedMods[r]; ok {
				return p.fail(at, tok, "%s", why)
			}
			return p.fail(at, tok, "unknown modifier %q; valid modifiers: %s", tok, validMods)
		}
	}
	return nil
}

// applyGroupMods applies a group's modifier string to a member, on top of
// the member's own modifiers, as perf does. The member's Modifiers text
// becomes its own letters followed by the group's when that string means
// the same thing on its own, and else the canonical text of the result, so
// that the member can be written back outside the group.
func (p *specParser) applyGroupMods(it *item, text string, off int) error {
	if err := p.applyMods(&it.mod, text, off); err != nil {
		return err
	}
	own := it.ev.Modifiers
	ev := it.ev
	ev.Modifiers = ""
	ev = it.mod.apply(ev, own+text)
	var alone modState
	if alone.eval(own+text) != nil || alone.apply(ev, "") != ev.withModifiers("") {
		ev.Modifiers = it.mod.canonical()
	}
	it.ev = ev
	return nil
}

// eval applies text to st outside any spec, for checking.
func (st *modState) eval(text string) error {
	p := &specParser{s: text}
	return p.applyMods(st, text, 0)
}

// withModifiers returns e with the modifier text replaced.
func (e Event) withModifiers(text string) Event {
	e.Modifiers = text
	return e
}

// apply stores the state's effect in e, with text as its Modifiers.
func (st *modState) apply(e Event, text string) Event {
	var x Exclude
	for _, b := range []struct {
		on  bool
		bit Exclude
	}{{st.eu, ExcludeUser}, {st.ek, ExcludeKernel}, {st.eh, ExcludeHV}, {st.eG, ExcludeGuest}, {st.eH, ExcludeHost}, {st.eI, ExcludeIdle}} {
		if b.on {
			x |= b.bit
		}
	}
	e.Exclude = x
	e.Precise = uint8(st.precise)
	e.PreciseMax = st.preciseMax
	e.Pinned = st.pinned
	e.Modifiers = text
	return e
}

// canonical returns a modifier string that, applied to an event without
// modifiers, gives the same Exclude, Precise, PreciseMax and Pinned as st.
func (st *modState) canonical() string {
	var b strings.Builder
	if st.eu || st.ek || st.eh {
		// At least one domain is always left: each u/k/h letter clears one.
		if !st.eu {
			b.WriteByte('u')
		}
		if !st.ek {
			b.WriteByte('k')
		}
		if !st.eh {
			b.WriteByte('h')
		}
	}
	// G leaves only exclude_host set, H only exclude_guest; both are never
	// set together.
	if st.eH {
		b.WriteByte('G')
	} else if st.eG {
		b.WriteByte('H')
	}
	if st.eI {
		b.WriteByte('I')
	}
	b.WriteString(strings.Repeat("p", st.precise))
	if st.preciseMax {
		b.WriteByte('P')
	}
	if st.pinned {
		b.WriteByte('D')
	}
	return b.String()
}
