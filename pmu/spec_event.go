package pmu

import (
	"sort"
	"strconv"
	"strings"
)

// maxRawDigits is the number of hex digits of a 64-bit raw config.
const maxRawDigits = 16

// resolveName resolves an event written without PMU terms: a builtin, a
// cache event, a raw event or a bare sysfs alias. off is its offset.
func (p *specParser) resolveName(name string, off int) ([]Event, error) {
	if e, ok := p.cat.lookupGeneric(name); ok {
		return []Event{e}, nil
	}
	if len(name) > 1 && name[0] == 'r' && isHexDigit(name[1]) {
		return p.rawEvent(name, off)
	}
	if matches := p.cat.bareAlias(name); len(matches) > 0 {
		evs := make([]Event, 0, len(matches))
		for _, m := range matches {
			if len(m.a.params) > 0 {
				return nil, p.fail(off, name, "event %s/%s/ needs %s %s: write %s/%s,%s=N/",
					m.p.name, m.a.name, plural("parameter", m.a.params), strings.Join(m.a.params, ", "),
					m.p.name, m.a.name, m.a.params[0])
			}
			evs = append(evs, m.p.aliasEvent(m.a))
		}
		return evs, nil
	}
	return nil, p.unknownEvent(name, off)
}

// unknownEvent explains why name is not an event, with a hint when one
// helps.
func (p *specParser) unknownEvent(name string, off int) error {
	// sched:sched_switch is perf's tracepoint syntax.
	if p.pos < len(p.s) && p.s[p.pos] == ':' {
		end := p.pos + 1
		for end < len(p.s) && !isDelim(p.s[end]) {
			end++
		}
		if mods := p.s[p.pos+1 : end]; strings.ContainsAny(mods, "_:") || strings.Trim(mods, "ukhGHIpPDSWeb") != "" {
			return p.fail(off, p.s[off:end], "tracepoint events are not supported; see vpmu list")
		}
	}
	for n, e := range p.cat.builtins {
		if strings.EqualFold(n, name) {
			return p.fail(off, name, "unknown event %q (event names are case-sensitive: did you mean %q?)", name, e.Name)
		}
	}
	if len(name) > 1 && name[0] == 'R' && isHexDigit(name[1]) {
		return p.fail(off, name, "unknown event %q (raw events are written with a lower-case r)", name)
	}
	return p.fail(off, name, "unknown event %q; see vpmu list", name)
}

// rawEvent parses rNNNN: 'r' and 1 to 16 hex digits, without 0x, as perf
// writes raw events.
func (p *specParser) rawEvent(name string, off int) ([]Event, error) {
	digits := name[1:]
	if len(digits) > 1 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		return nil, p.fail(off, name, "bad raw event %q: write r followed by hex digits, without 0x (r%s)", name, digits[2:])
	}
	for i := 0; i < len(digits); i++ {
		if !isHexDigit(digits[i]) {
			return nil, p.fail(off, name, "bad hex digit %q in raw event %q", digits[i:i+1], name)
		}
	}
	if len(digits) > maxRawDigits {
		return nil, p.fail(off, name, "raw event %q has more than %d hex digits (64 bits)", name, maxRawDigits)
	}
	v, err := strconv.ParseUint(digits, 16, 64)
	if err != nil { // unreachable after the checks above
		return nil, p.fail(off, name, "bad raw event %q: %v", name, err)
	}
	return []Event{{Name: "r" + strings.ToLower(digits), Kind: KindRaw, Type: perfTypeRaw, Config: v}}, nil
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// pmuEvent parses pmu/terms/ with p.pos at the first '/'. A PMU name
// without its _N suffix ("uncore_imc") stands for every PMU with that
// prefix, as in perf; the event is then repeated for each.
func (p *specParser) pmuEvent(pmuName string, off int) ([]Event, error) {
	open := p.pos
	end := strings.IndexByte(p.s[open+1:], '/')
	if end < 0 {
		return nil, p.fail(off, p.s[off:], "missing closing '/' of PMU event")
	}
	termsOff := open + 1
	termsText := p.s[termsOff : termsOff+end]
	p.pos = termsOff + end + 1
	if pmuName == "" {
		return nil, p.fail(open, "/", "missing PMU name before '/'")
	}
	pmus := p.cat.pmusNamed(pmuName)
	if len(pmus) == 0 {
		return nil, p.fail(off, pmuName, "unknown PMU %q; PMUs here: %s", pmuName, strings.Join(p.cat.PMUs(), ", "))
	}
	if strings.Trim(termsText, termSpace) == "" {
		return nil, p.fail(termsOff, "", "no terms between the slashes of %s/.../", pmuName)
	}
	terms, terr := splitTerms(termsText, termsOff)
	if terr != nil {
		return nil, p.fail(terr.off, terr.token, "%s", terr.msg)
	}
	evs := make([]Event, 0, len(pmus))
	for _, pd := range pmus {
		r, terr := pd.resolve(terms, false)
		if terr != nil {
			return nil, p.fail(terr.off, terr.token, "%s", terr.msg)
		}
		if len(r.params) > 0 {
			at, tok := termsOff, termsText
			for _, t := range terms {
				if strings.EqualFold(t.name, r.alias.name) && !t.hasValue {
					at, tok = t.off, t.text
				}
			}
			return nil, p.fail(at, tok, "event %s/%s/ needs %s %s: write %s/%s,%s=N/",
				pd.name, r.alias.name, plural("parameter", r.params), strings.Join(r.params, ", "),
				pd.name, r.alias.name, r.params[0])
		}
		evs = append(evs, pd.event(pd.name+"/"+pd.canonicalTerms(terms)+"/", r))
	}
	return evs, nil
}

// canonicalTerms writes a term list back in the form an Event name uses:
// trimmed terms joined by ',', aliases spelled as their sysfs file.
func (pd *pmuDesc) canonicalTerms(terms []rawTerm) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		if !t.hasValue {
			if _, isFormat := pd.formats[t.name]; !isFormat {
				if a := pd.aliases[strings.ToLower(t.name)]; a != nil {
					t.name = a.name
				}
			}
		}
		parts[i] = t.String()
	}
	return strings.Join(parts, ",")
}

// pmusNamed returns the PMU called name, or else every PMU called name_N
// for a decimal N, sorted by N.
func (c *Catalog) pmusNamed(name string) []*pmuDesc {
	if pd := c.pmus[name]; pd != nil {
		return []*pmuDesc{pd}
	}
	type numbered struct {
		n  uint64
		pd *pmuDesc
	}
	var found []numbered
	for n, pd := range c.pmus {
		suffix, ok := strings.CutPrefix(n, name+"_")
		if !ok || suffix == "" || strings.Trim(suffix, "0123456789") != "" {
			continue
		}
		v, err := strconv.ParseUint(suffix, 10, 64)
		if err != nil {
			continue
		}
		found = append(found, numbered{v, pd})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].n < found[j].n })
	out := make([]*pmuDesc, len(found))
	for i, f := range found {
		out[i] = f.pd
	}
	return out
}

func plural(word string, list []string) string {
	if len(list) == 1 {
		return word
	}
	return word + "s"
}

// DisplayName returns the name to show for the event: the value of a
// name= term of a PMU event ("cpu/event=0x3c,name=loops/" shows as
// "loops"), or else String().
func (e Event) DisplayName() string {
	if e.Kind == KindPMU {
		if i, j := strings.IndexByte(e.Name, '/'), strings.LastIndexByte(e.Name, '/'); i >= 0 && j > i {
			for _, t := range strings.Split(e.Name[i+1:j], ",") {
				if v, ok := strings.CutPrefix(t, "name="); ok && v != "" {
					return v
				}
			}
		}
	}
	return e.String()
}
