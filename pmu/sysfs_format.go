package pmu

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// configField names the perf_event_attr word that a sysfs format writes.
type configField uint8

const (
	fieldConfig configField = iota
	fieldConfig1
	fieldConfig2
	// fieldConfig3 exists in newer kernels (perf_event_attr.config3);
	// Event has no room for it, so formats on it parse but cannot be set.
	fieldConfig3
)

var fieldNames = [...]string{"config", "config1", "config2", "config3"}

func (f configField) String() string { return fieldNames[f] }

// pmuFormat is one file of <pmu>/format/: a named bit field of a config
// word, for example "umask" = "config:8-15". Ranges may be split
// ("config:0-7,32-35"); a value's low bits fill the lowest positions
// first, as the kernel and perf do.
type pmuFormat struct {
	name  string
	field configField
	mask  uint64 // the field's bit positions in the config word
	text  string // the file content, for messages
}

// width is the number of value bits the format holds.
func (f *pmuFormat) width() int { return bits.OnesCount64(f.mask) }

// errFormatSyntax is wrapped by parseFormat errors.
var errFormatSyntax = errors.New("bad format")

// parseFormat parses the content of a sysfs format file:
//
//	config:0-7
//	config1:0-15
//	config:0-7,32-35
//	config:63
//
// Bit numbers are decimal and 0-63; ranges are inclusive, must be ordered
// low-high and must not overlap. Surrounding white space is ignored.
func parseFormat(name, text string) (*pmuFormat, error) {
	t := strings.TrimSpace(text)
	word, ranges, ok := strings.Cut(t, ":")
	if !ok {
		return nil, fmt.Errorf("%w %q: want config[N]:bits", errFormatSyntax, t)
	}
	f := &pmuFormat{name: name, text: t}
	switch word {
	case "config":
		f.field = fieldConfig
	case "config1":
		f.field = fieldConfig1
	case "config2":
		f.field = fieldConfig2
	case "config3":
		f.field = fieldConfig3
	default:
		return nil, fmt.Errorf("%w %q: unknown field %q (want config, config1, config2 or config3)", errFormatSyntax, t, word)
	}
	if ranges == "" {
		return nil, fmt.Errorf("%w %q: no bit range", errFormatSyntax, t)
	}
	for _, r := range strings.Split(ranges, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		l, err := parseBit(lo)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", errFormatSyntax, t, err)
		}
		h := l
		if isRange {
			if h, err = parseBit(hi); err != nil {
				return nil, fmt.Errorf("%w %q: %v", errFormatSyntax, t, err)
			}
			if h < l {
				return nil, fmt.Errorf("%w %q: range %s is reversed", errFormatSyntax, t, r)
			}
		}
		m := (^uint64(0) >> (63 - h)) &^ (1<<l - 1)
		if f.mask&m != 0 {
			return nil, fmt.Errorf("%w %q: range %s overlaps an earlier one", errFormatSyntax, t, r)
		}
		f.mask |= m
	}
	return f, nil
}

// parseBit parses a bit number 0-63.
func parseBit(s string) (uint, error) {
	if s == "" || len(s) > 2 {
		return 0, fmt.Errorf("bad bit number %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n > 63 {
		return 0, fmt.Errorf("bad bit number %q (want 0-63)", s)
	}
	return uint(n), nil
}

// encode spreads v over the format's bit positions, lowest first. It
// fails when v has more significant bits than the format holds.
func (f *pmuFormat) encode(v uint64) (uint64, error) {
	if w := f.width(); w < 64 && v>>w != 0 {
		return 0, fmt.Errorf("value %#x does not fit in %d bits (%s)", v, w, f.text)
	}
	var out uint64
	for m := f.mask; m != 0 && v != 0; m &= m - 1 {
		bit := m & -m
		if v&1 != 0 {
			out |= bit
		}
		v >>= 1
	}
	return out, nil
}

// decode is the inverse of encode: it gathers the format's bits of a
// config word into a value.
func (f *pmuFormat) decode(word uint64) uint64 {
	var v uint64
	i := 0
	for m := f.mask; m != 0; m &= m - 1 {
		if word&(m&-m) != 0 {
			v |= 1 << i
		}
		i++
	}
	return v
}

// parseTermValue parses a term value: decimal, or hexadecimal with a 0x
// prefix, up to 64 bits.
func parseTermValue(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty value")
	}
	base, digits := 10, s
	if len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, digits = 16, s[2:]
	}
	if digits == "" || digits[0] == '+' || digits[0] == '-' {
		return 0, fmt.Errorf("bad number %q", s)
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("number %q does not fit in 64 bits", s)
		}
		return 0, fmt.Errorf("bad number %q (want decimal or 0x hex)", s)
	}
	return v, nil
}

// rawTerm is one "name" or "name=value" item of a term list, as written,
// with its byte offset in the list.
type rawTerm struct {
	name, value string
	hasValue    bool
	text        string // the term as written, trimmed
	off         int    // offset of text in the text the terms came from
}

// String writes the term back.
func (t rawTerm) String() string {
	if !t.hasValue {
		return t.name
	}
	return t.name + "=" + t.value
}

// termSpace is the white space allowed around terms and around '='.
const termSpace = " \t\n\r"

// splitTerms splits a comma separated term list ("event=0x3c,umask=0x1",
// "cpu-cycles,inv") into terms, trimming white space around each. base is
// added to the offsets. An empty item is an error with its offset.
func splitTerms(s string, base int) ([]rawTerm, *termError) {
	var out []rawTerm
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		item := s[start:i]
		lead := len(item) - len(strings.TrimLeft(item, termSpace))
		item = strings.Trim(item, termSpace)
		off := base + start + lead
		if item == "" {
			return nil, &termError{off: off, token: "", msg: "empty term"}
		}
		t := rawTerm{name: item, text: item, off: off}
		if n, v, ok := strings.Cut(item, "="); ok {
			t.name, t.value, t.hasValue = strings.Trim(n, termSpace), strings.Trim(v, termSpace), true
			if t.name == "" {
				return nil, &termError{off: off, token: item, msg: "term has no name"}
			}
		}
		if strings.ContainsAny(t.name, termSpace) {
			return nil, &termError{off: off, token: item, msg: "white space inside a term"}
		}
		out = append(out, t)
		start = i + 1
	}
	return out, nil
}

// termError is an error about one term; the spec parser turns it into a
// SpecError and discovery into a SysfsError.
type termError struct {
	off   int
	token string
	msg   string
}

func (e *termError) Error() string { return fmt.Sprintf("%s (%q)", e.msg, e.token) }
