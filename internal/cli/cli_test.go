package cli

import (
	"strings"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
)

func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // a line the output must contain
		err  bool   // output on stderr instead of stdout
	}{
		{nil, 1, `^\tstat +count events while a command runs, like perf stat$`, true},
		{[]string{"help"}, 0, `^\tlist +list events and whether they can be counted here$`, false},
		{[]string{"-h"}, 0, `^Run 'vpmu help <command>' for the flags of a command\.$`, false},
		{[]string{"--help"}, 0, `^Usage:$`, false},
		{[]string{"help", "stat"}, 0, `^Usage: vpmu stat \[-e SPEC\]\.\.\. `, false},
		{[]string{"stat", "-h"}, 0, `^  -x, --field-separator SEP `, false},
		{[]string{"stat", "--help"}, 0, `^      --per-vcpu +\(with --vm\) one row per VCPU`, false},
		{[]string{"help", "list"}, 0, `^Usage: vpmu list \[--json\] \[--desc\] \[FILTER\.\.\.\]$`, false},
		{[]string{"list", "-help"}, 0, `^  -j, --json `, false},
		{[]string{"help", "help"}, 0, `^Usage: vpmu help \[command\]$`, false},
		{[]string{"help", "bogus"}, 1, `^vpmu help: unknown command "bogus"$`, true},
		{[]string{"help", "a", "b"}, 1, `^vpmu help: too many arguments`, true},
		{[]string{"bogus"}, 1, `^vpmu: unknown command "bogus"$`, true},
		{[]string{"--", "stat"}, 1, `^vpmu: unknown flag -- before the command$`, true},
		{[]string{"-x,", "stat"}, 1, `^vpmu: unknown flag -x, before the command$`, true},
		{[]string{"list", "--bogus"}, 1, `^vpmu list: unknown flag -bogus$`, true},
	} {
		h := newHarness(t)
		code := h.run(tc.args...)
		if code != tc.code {
			t.Errorf("vpmu %q: exit %d, want %d", tc.args, code, tc.code)
		}
		out, other := h.stdout.String(), h.stderr.String()
		if tc.err {
			out, other = other, out
		}
		wantLines(t, out, tc.out)
		if other != "" {
			t.Errorf("vpmu %q wrote to the other stream too: %q", tc.args, other)
		}
	}
}

// TestUsageDefaults checks that the default event list in the help text
// is the one vpmu stat counts.
func TestUsageDefaults(t *testing.T) {
	for _, e := range defaultEvents {
		if !strings.Contains(statUsage, e) {
			t.Errorf("vpmu help stat does not mention default event %q", e)
		}
	}
}
