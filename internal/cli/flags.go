package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
)

// newFlagSet returns a flag set for command name that reports errors to
// its caller instead of printing them: commands print their own usage.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("vpmu "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args perf-style: -e X, --event X, --event=X and the
// attached short form -eX or -x, (perf's "-x," for CSV) all work; flags
// end at "--" or at the first argument that is not a flag. It returns
// flag.ErrHelp for -h and --help, and a usage error naming the flag for
// anything else that is wrong.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(splitAttached(fs, args))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		return flag.ErrHelp
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown flag " + rest
	}
	return &usageError{msg}
}

// splitAttached rewrites "-xVALUE" into "-x", "VALUE" for the one-letter
// flags of fs that take a value, leaving defined multi-letter names
// ("-event") alone. It stops where flag parsing stops.
func splitAttached(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if f := fs.Lookup(name); f != nil {
			out = append(out, a)
			if !hasValue && !isBool(f) && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 {
			if f := fs.Lookup(a[1:2]); f != nil && !isBool(f) {
				out = append(out, a[:2], a[2:])
				continue
			}
		}
		out = append(out, a) // unknown: fs.Parse reports it
	}
	return out
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
