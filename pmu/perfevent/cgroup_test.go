package perfevent

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
)

// cgroup2Root returns where the cgroup v2 hierarchy is mounted, or skips.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		pre, post, _ := strings.Cut(s.Text(), " - ")
		if fs := strings.Fields(pre); len(fs) >= 5 && strings.HasPrefix(post, "cgroup2 ") {
			return fs[4]
		}
	}
	t.Skip("skipping: no cgroup v2 hierarchy is mounted")
	return ""
}

// TestOpenCgroup counts the root cgroup of the v2 hierarchy on each
// online CPU, and checks the errors for what is not a perf_event cgroup.
// (exporters' TestCgroupTarget counts a process moved into a new cgroup.)
func TestOpenCgroup(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	root := cgroup2Root(t)
	s := New()
	cpus, err := s.OnlineCPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("online CPUs %v: %v", cpus, err)
	}
	g := pmu.Group{Events: []pmu.Event{evTaskClock, evCtxSwitches}, Explicit: true}
	for _, cpu := range cpus {
		c, err := s.OpenCgroup(g, root, cpu)
		if errors.Is(err, pmu.ErrNotSupported) {
			t.Skipf("skipping: cgroup counting is not allowed here: %v", err)
		}
		if err != nil {
			t.Fatalf("cpu %d: %v", cpu, err)
		}
		vs, err := c.Read()
		if err != nil || len(vs) != 2 {
			t.Errorf("cpu %d: read %v, %v", cpu, vs, err)
		}
		if c.Target().CPU != cpu {
			t.Errorf("target %+v, want cpu %d", c.Target(), cpu)
		}
		c.Close()
	}

	for _, tc := range []struct {
		name, dir string
		cpu       int
		want      error
		text      string
	}{
		{"not a cgroup file system", os.TempDir(), 0, ErrNotCgroup, "not cgroup2 or cgroup"},
		{"no such directory", root + "/vpmu-no-such-cgroup", 0, nil, "no such file"},
		{"no cpu", root, -1, nil, "needs a CPU number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.OpenCgroup(g, tc.dir, tc.cpu)
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q, want %v saying %q", err, tc.want, tc.text)
			}
		})
	}
	if _, err := s.OpenCgroup(pmu.Group{}, root, 0); err == nil {
		t.Error("no error for an empty group")
	}
}
