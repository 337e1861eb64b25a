package pmu

import (
	"fmt"
	"sort"
	"strings"
)

// perf's own term names that are not about what is counted. vpmu event
// specs are counting-only: sampling is configured with flags of `vpmu
// record`, so these are rejected with a reason instead of being ignored.
var samplingTerms = map[string]bool{
	"period": true, "freq": true, "call-graph": true, "stack-size": true,
	"max-stack": true, "branch_type": true, "time": true, "overwrite": true,
	"no-overwrite": true, "nr": true, "aux-output": true,
	"aux-sample-size": true, "aux-action": true,
}

var unsupportedTerms = map[string]bool{
	"inherit": true, "no-inherit": true, "percore": true, "metric-id": true,
	"driver-config": true, "raw": true, "legacy-cache": true, "hardware": true,
	"config3": true,
}

// termResult is what a PMU term list resolves to.
type termResult struct {
	cfg    [3]uint64   // config, config1, config2
	label  string      // value of a name= term
	alias  *sysfsAlias // the event alias used, if any
	params []string    // term=? parameters of the alias still unset, sorted
}

// resolve encodes a term list against the PMU's formats and aliases, in
// order, later terms overriding earlier ones:
//
//   - config=, config1=, config2= set the whole word;
//   - a format name sets its bit field (value 1 when none is given);
//   - a bare alias name (from <pmu>/events, any case) expands in place;
//   - name= gives the display name.
//
// inAlias is true while resolving the content of a sysfs alias file:
// aliases cannot nest, and a value may be "?", a parameter the user must
// supply. Errors point at the offending term.
func (p *pmuDesc) resolve(terms []rawTerm, inAlias bool) (termResult, *termError) {
	var r termResult
	st := resolveState{pending: map[string]bool{}, provided: map[string]bool{}}
	if err := p.apply(&r, &st, terms, inAlias, false); err != nil {
		return r, err
	}
	for n := range st.pending {
		r.params = append(r.params, n)
	}
	sort.Strings(r.params)
	return r, nil
}

type resolveState struct {
	pending  map[string]bool // "?" terms of an alias not yet given a value
	provided map[string]bool // terms given a value by the user
}

// apply applies terms to r. fromAlias says the terms are an expanded
// alias' content inside a user spec.
func (p *pmuDesc) apply(r *termResult, st *resolveState, terms []rawTerm, inAlias, fromAlias bool) *termError {
	aliasText := inAlias || fromAlias
	for _, t := range terms {
		tok := t.text
		if tok == "" {
			tok = t.String()
		}
		bad := func(format string, args ...any) *termError {
			return &termError{off: t.off, token: tok, msg: fmt.Sprintf(format, args...)}
		}
		if t.hasValue && t.value == "?" {
			if !aliasText {
				return bad("value '?' marks a parameter in a sysfs event file; give a number")
			}
			if !st.provided[t.name] {
				st.pending[t.name] = true
			}
			continue
		}
		if !aliasText {
			st.provided[t.name] = true
			delete(st.pending, t.name)
		}
		switch {
		case isConfigTerm(t.name):
			if !t.hasValue {
				return bad("term %s needs a value", t.name)
			}
			v, err := parseTermValue(t.value)
			if err != nil {
				return bad("%v", err)
			}
			r.cfg[configTermField(t.name)] = v
		case t.name == "name":
			if !t.hasValue || t.value == "" {
				return bad("term name needs a value")
			}
			r.label = t.value
		case samplingTerms[t.name]:
			return bad("term %s is a sampling option; event specs are counting-only (use the sampling flags of vpmu record)", t.name)
		case unsupportedTerms[t.name]:
			return bad("term %s is not supported by vpmu", t.name)
		default:
			if f, ok := p.formats[t.name]; ok {
				if f.field == fieldConfig3 {
					return bad("term %s sets %s, which vpmu cannot program", t.name, f.text)
				}
				v := uint64(1)
				if t.hasValue {
					var err error
					if v, err = parseTermValue(t.value); err != nil {
						return bad("%v", err)
					}
				}
				bits, err := f.encode(v)
				if err != nil {
					return bad("term %s: %v", t.name, err)
				}
				r.cfg[f.field] = r.cfg[f.field]&^f.mask | bits
				continue
			}
			a, ok := p.aliases[strings.ToLower(t.name)]
			if !ok || t.hasValue || inAlias {
				return bad("unknown term %q for PMU %s; %s", t.name, p.name, p.knownTerms())
			}
			if fromAlias {
				return bad("event aliases cannot nest")
			}
			if r.alias != nil {
				return bad("more than one event alias (%s and %s) in one event", r.alias.name, a.name)
			}
			r.alias = a
			if err := p.apply(r, st, a.terms, false, true); err != nil {
				// The alias was checked at discovery; point at its use.
				return bad("event alias %s (%s): %s", a.name, a.text, err.msg)
			}
		}
	}
	return nil
}

func isConfigTerm(name string) bool {
	return name == "config" || name == "config1" || name == "config2"
}

func configTermField(name string) configField {
	switch name {
	case "config1":
		return fieldConfig1
	case "config2":
		return fieldConfig2
	}
	return fieldConfig
}

// knownTerms lists the terms a spec may use with the PMU, for messages.
func (p *pmuDesc) knownTerms() string {
	names := make([]string, 0, len(p.formats)+4)
	for n := range p.formats {
		names = append(names, n)
	}
	sort.Strings(names)
	names = append(names, "config", "config1", "config2", "name")
	s := "known terms: " + strings.Join(names, ", ")
	if len(p.aliases) > 0 {
		s += ", or an event name from " + p.name + "/events"
	}
	return s
}
