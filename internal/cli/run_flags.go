package cli

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/vpmu/vpmu/hypervisor"
)

// defaultGuestPath is the PATH a program run by vpmu run sees: Debian's
// default.
const defaultGuestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runOptions are vpmu run's parsed flags and arguments.
type runOptions struct {
	vcpus, pcpus int
	mem          uint64
	rw           stringList
	env          stringList
	// argv is the program and its arguments, as given.
	argv []string
	// metrics are the --metrics flags; metrics.addr is empty without
	// --metrics.
	metrics runMetricsOptions
}

func parseRunFlags(args []string) (*runOptions, error) {
	o := &runOptions{}
	var memText string
	fs := newFlagSet("run")
	fs.IntVar(&o.vcpus, "vcpus", runtime.NumCPU(), "")
	fs.IntVar(&o.pcpus, "pcpus", runtime.NumCPU(), "")
	fs.StringVar(&memText, "mem", "2G", "")
	fs.Var(&o.rw, "rw", "")
	fs.Var(&o.env, "env", "")
	o.metrics.addFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := o.metrics.validate(fs); err != nil {
		return nil, err
	}
	o.argv = fs.Args()
	switch {
	case len(o.argv) == 0:
		return nil, usagef("nothing to run: give a program (vpmu run [flags] -- PROG ARGS)")
	case o.vcpus < 1 || o.vcpus > hypervisor.MaxVCPUs:
		return nil, usagef("--vcpus %d: want 1 to %d", o.vcpus, hypervisor.MaxVCPUs)
	case o.pcpus < 1:
		return nil, usagef("--pcpus %d: want at least 1", o.pcpus)
	}
	var err error
	if o.mem, err = parseSize(memText); err != nil {
		return nil, usagef("--mem %q: %v", memText, err)
	}
	if o.mem < 1<<20 {
		return nil, usagef("--mem %q: want at least 1M", memText)
	}
	for _, d := range o.rw {
		st, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("--rw %s: %w", d, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("--rw %s: not a directory", d)
		}
	}
	for _, kv := range o.env {
		if k, _, _ := strings.Cut(kv, "="); k == "" {
			return nil, usagef("--env %q: want KEY=VALUE or KEY", kv)
		}
	}
	return o, nil
}

// parseSize parses a byte count: a number with an optional binary unit
// K, M, G or T (optionally followed by B or iB), case-insensitive.
func parseSize(s string) (uint64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("want a size like 512M or 2G")
	}
	b := v * mult
	if b >= math.MaxUint64/2 {
		return 0, errors.New("too large")
	}
	return uint64(b), nil
}

// guestEnv builds the program's environment: PATH, HOME and TERM (the
// last two from vpmu's environment, through lookup), then --env in
// order, later settings replacing earlier ones.
func (o *runOptions) guestEnv(lookup func(string) (string, bool)) []string {
	var keys []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	set("PATH", defaultGuestPath)
	for _, k := range []string{"HOME", "TERM"} {
		if v, ok := lookup(k); ok {
			set(k, v)
		}
	}
	for _, kv := range o.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			if v, ok = lookup(k); !ok {
				continue
			}
		}
		set(k, v)
	}
	env := make([]string, len(keys))
	for i, k := range keys {
		env[i] = k + "=" + vals[k]
	}
	return env
}

// resolveProgram finds the program to load: a path as given, or a name
// looked up in vpmu's PATH. On failure it returns the exit status.
func (o *runOptions) resolveProgram() (string, int, error) {
	prog := o.argv[0]
	if strings.Contains(prog, "/") {
		return prog, 0, nil
	}
	p, err := exec.LookPath(prog)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", exitNotFound, fmt.Errorf("%s: not found in $PATH", prog)
		}
		return "", exitCannotExec, err
	}
	return p, 0, nil
}
