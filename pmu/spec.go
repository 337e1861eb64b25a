package pmu

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParseSpec parses a perf-style event list into a Spec, resolving every
// name against the catalog c (nil means DefaultCatalog). It opens nothing.
//
// The syntax is perf's:
//
//	cycles,instructions:u             events, with modifiers after ':'
//	{cycles,instructions}:k           a group; its modifiers apply to each member
//	r01c2                             a raw event: 'r' and up to 16 hex digits
//	L1-dcache-load-misses             a generic cache event (perf's aliases too)
//	cpu/event=0x3c,umask=0x0/u        PMU terms, modifiers after the last '/'
//	cpu/cpu-cycles/ tsc               sysfs event aliases, with or without the PMU
//	uncore_imc/cas_count_read/        a PMU name without its _N suffix means all of them
//
// Modifiers: u (user), k (kernel), h (hypervisor) count only the named
// domains; G counts only in guests and H only in the host; I excludes the
// idle task; p (up to ppp) sets precise_ip; P asks for the highest precise
// level; D pins the group. They combine exactly as perf combines them: the
// first of u, k, h excludes all three domains and each letter then
// includes its own; a group's modifiers apply on top of each member's. A
// letter may appear once per modifier string (p up to three times). S, W,
// e and b are refused with the reason. Unlike the perf tool, ExcludeGuest
// is never set implicitly (perf 6.1 sets it on every event unless G or H
// is written); that host policy belongs to the source. White space around
// events is ignored.
//
// Every error is a *SpecError whose Offset and Token point at the
// offending part of the spec. ParseSpec(s.String()) returns a Spec equal
// to s for every Spec it returns.
func ParseSpec(spec string, c *Catalog) (Spec, error) {
	if c == nil {
		c = DefaultCatalog()
	}
	p := &specParser{s: spec, cat: c}
	return p.parse()
}

// MustParseSpec is like ParseSpec with the default catalog but panics on
// error. It is meant for specs fixed in a program or test.
func MustParseSpec(spec string) Spec {
	s, err := ParseSpec(spec, nil)
	if err != nil {
		panic(err)
	}
	return s
}

type specParser struct {
	s   string
	pos int
	cat *Catalog
}

// item is a parsed event with the modifier state perf keeps for it.
type item struct {
	ev  Event
	mod modState
}

func (p *specParser) fail(off int, tok, format string, args ...any) error {
	return &SpecError{Spec: p.s, Offset: off, Token: tok, Msg: fmt.Sprintf(format, args...)}
}

func (p *specParser) eof() bool { return p.pos >= len(p.s) }

func (p *specParser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// charAt returns the (possibly multi-byte) character at off as a string.
func (p *specParser) charAt(off int) string {
	_, n := utf8.DecodeRuneInString(p.s[off:])
	return p.s[off : off+n]
}

func (p *specParser) parse() (Spec, error) {
	var spec Spec
	for {
		p.skipSpace()
		if p.eof() {
			if len(spec.Groups) == 0 {
				return Spec{}, p.fail(p.pos, "", "empty event spec")
			}
			return Spec{}, p.fail(p.pos, "", "missing event after ','")
		}
		switch p.s[p.pos] {
		case '{':
			g, err := p.group()
			if err != nil {
				return Spec{}, err
			}
			spec.Groups = append(spec.Groups, g)
		case '}':
			return Spec{}, p.fail(p.pos, "}", "unbalanced '}': no group is open")
		case ',':
			return Spec{}, p.fail(p.pos, "", "empty event before ','")
		default:
			items, err := p.event()
			if err != nil {
				return Spec{}, err
			}
			for _, it := range items {
				spec.Groups = append(spec.Groups, Group{Events: []Event{it.ev}})
			}
		}
		p.skipSpace()
		if p.eof() {
			return spec, nil
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			return Spec{}, p.fail(p.pos, "}", "unbalanced '}': no group is open")
		default:
			return Spec{}, p.fail(p.pos, p.charAt(p.pos), "unexpected %q: events are separated by ','", p.charAt(p.pos))
		}
	}
}

// group parses {ev,ev,...} and optional group modifiers.
func (p *specParser) group() (Group, error) {
	open := p.pos
	p.pos++
	var items []item
	for {
		p.skipSpace()
		if p.eof() {
			return Group{}, p.fail(open, "{", "unbalanced '{': missing '}'")
		}
		switch p.s[p.pos] {
		case '{':
			return Group{}, p.fail(p.pos, "{", "nested groups are not allowed")
		case '}':
			if len(items) == 0 {
				return Group{}, p.fail(open, p.s[open:p.pos+1], "empty group")
			}
			return Group{}, p.fail(p.pos, "", "missing event before '}'")
		case ',':
			return Group{}, p.fail(p.pos, "", "empty event before ','")
		}
		evs, err := p.event()
		if err != nil {
			return Group{}, err
		}
		items = append(items, evs...)
		p.skipSpace()
		if p.eof() {
			return Group{}, p.fail(open, "{", "unbalanced '{': missing '}'")
		}
		c := p.s[p.pos]
		if c == ',' {
			p.pos++
			continue
		}
		if c == '}' {
			p.pos++
			break
		}
		if c == '{' {
			return Group{}, p.fail(p.pos, "{", "nested groups are not allowed")
		}
		return Group{}, p.fail(p.pos, p.charAt(p.pos), "unexpected %q: events are separated by ','", p.charAt(p.pos))
	}
	if !p.eof() && p.s[p.pos] == ':' {
		colon := p.pos
		p.pos++
		text, off := p.modText()
		if text == "" {
			return Group{}, p.fail(colon, ":", "empty modifier after ':'")
		}
		for i := range items {
			if err := p.applyGroupMods(&items[i], text, off); err != nil {
				return Group{}, err
			}
		}
	}
	g := Group{Explicit: true, Events: make([]Event, len(items))}
	for i, it := range items {
		g.Events[i] = it.ev
	}
	return g, nil
}

// modText scans modifier letters up to the next delimiter and returns
// them with their offset.
func (p *specParser) modText() (string, int) {
	start := p.pos
	for p.pos < len(p.s) && !isDelim(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos], start
}

// isDelim reports whether c ends an event name or a modifier list.
func isDelim(c byte) bool { return c == ',' || c == '{' || c == '}' || isSpace(c) }

// event parses one event with its modifiers. A name that matches an event
// alias of several PMUs yields one item per PMU.
func (p *specParser) event() ([]item, error) {
	start := p.pos
	for p.pos < len(p.s) && !isDelim(p.s[p.pos]) && p.s[p.pos] != ':' && p.s[p.pos] != '/' {
		p.pos++
	}
	name := p.s[start:p.pos]
	var (
		evs []Event
		err error
	)
	if !p.eof() && p.s[p.pos] == '/' {
		if evs, err = p.pmuEvent(name, start); err != nil {
			return nil, err
		}
		// Modifiers follow the closing '/', with or without ':'.
		if !p.eof() && !isDelim(p.s[p.pos]) && p.s[p.pos] != ':' {
			return p.withMods(evs, start, -1)
		}
	} else {
		if name == "" {
			if !p.eof() && p.s[p.pos] == ':' {
				return nil, p.fail(p.pos, "", "missing event name before ':'")
			}
			return nil, p.fail(start, "", "empty event")
		}
		if evs, err = p.resolveName(name, start); err != nil {
			return nil, err
		}
	}
	colon := -1
	if !p.eof() && p.s[p.pos] == ':' {
		colon = p.pos
		p.pos++
	}
	return p.withMods(evs, start, colon)
}

// withMods reads the modifier text at p.pos (after a ':' at colon, or
// directly after a PMU event's '/' when colon < 0) and applies it. start
// is the offset of the event.
func (p *specParser) withMods(evs []Event, start, colon int) ([]item, error) {
	text, off := "", p.pos
	if colon >= 0 || (!p.eof() && !isDelim(p.s[p.pos])) {
		text, off = p.modText()
		if text == "" && colon >= 0 {
			return nil, p.fail(colon, ":", "empty modifier after ':'")
		}
		if colon >= 0 && strings.Contains(text, "_") {
			// sched:sched_switch, syscalls:sys_enter_read
			return nil, p.fail(start, p.s[start:p.pos], "tracepoint events are not supported; see vpmu list")
		}
	}
	items := make([]item, len(evs))
	for i, e := range evs {
		items[i].ev = e
		if text == "" {
			continue
		}
		if err := p.applyMods(&items[i].mod, text, off); err != nil {
			return nil, err
		}
		items[i].ev = items[i].mod.apply(e, text)
	}
	return items, nil
}
