package exporters

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want procStat
		err  string
	}{
		{"plain", "1234 (sleep) S 1 1234 1234 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 5678 2240512 132 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			procStat{state: 'S', threads: 1, start: 5678}, ""},
		{"comm with spaces and parens", "77 (a) b (c) Z 1 77 77 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 3 0 99 0 0",
			procStat{state: 'Z', threads: 3, start: 99}, ""},
		{"no paren", "1234 sleep S 1", procStat{}, "no ')'"},
		{"short", "1 (x) R 1 2 3", procStat{}, "fields"},
		{"bad threads", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 many 0 5 0 0", procStat{}, "num_threads"},
		{"bad start", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0 0", procStat{}, "starttime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestTaskGone checks exit detection on real processes: a live one, a
// zombie (killed, not yet reaped), a reaped one, and a reused pid.
func TestTaskGone(t *testing.T) {
	self := fmt.Sprintf("/proc/%d/stat", os.Getpid())
	st, err := readProcStat(self)
	if err != nil {
		t.Fatal(err)
	}
	if taskGone(self, st.start, true) {
		t.Error("this process is gone")
	}
	if !taskGone(self, st.start+1, true) {
		t.Error("a pid now used by another process (other start time) is not gone")
	}

	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)
	cst, err := readProcStat(path)
	if err != nil {
		t.Fatal(err)
	}
	if taskGone(path, cst.start, true) {
		t.Error("a sleeping child is gone")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	eventually(t, "the killed child becomes a zombie", func() bool {
		s, err := readProcStat(path)
		return err == nil && s.state == 'Z'
	})
	if !taskGone(path, cst.start, true) {
		t.Error("a zombie is not gone")
	}
	cmd.Wait()
	if !taskGone(path, cst.start, true) {
		t.Error("a reaped process is not gone")
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
33 30 0:29 / /sys/fs/cgroup/perf_event rw - cgroup cgroup rw,perf_event
34 30 0:30 /docker/abc /sys/fs/cgroup/my\040cg rw shared:5 - cgroup2 cgroup2 rw
malformed line
`
	got := parseMountinfo([]byte(in))
	want := []cgroupMount{
		{point: "/sys/fs/cgroup/unified", root: "/", v2: true},
		{point: "/sys/fs/cgroup/perf_event", root: "/"},
		{point: "/sys/fs/cgroup/my cg", root: "/docker/abc", v2: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestResolveCgroup(t *testing.T) {
	v2 := t.TempDir()
	v1 := t.TempDir()
	for _, d := range []string{filepath.Join(v2, "jobs", "a"), filepath.Join(v1, "old")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(v2, "jobs", "file")
	os.WriteFile(file, nil, 0o644)
	mounts := []cgroupMount{{point: v1, root: "/"}, {point: v2, root: "/ns", v2: true}}
	for _, tc := range []struct {
		path, dir, name, err string
	}{
		{path: filepath.Join(v2, "jobs", "a"), dir: filepath.Join(v2, "jobs", "a"), name: "/ns/jobs/a"},
		{path: filepath.Join(v1, "old"), dir: filepath.Join(v1, "old"), name: "/old"},
		{path: v2, dir: v2, name: "/ns"},
		{path: "jobs/a", dir: filepath.Join(v2, "jobs", "a"), name: "/ns/jobs/a"},
		{path: "/", dir: v2, name: "/ns"},
		{path: "/jobs/a/", dir: filepath.Join(v2, "jobs", "a"), name: "/ns/jobs/a"},
		{path: "../../jobs/a", dir: filepath.Join(v2, "jobs", "a"), name: "/ns/jobs/a"},
		{path: "jobs/b", err: "no such file"},
		{path: file, err: "not a directory"},
		{path: os.TempDir(), err: "not in a cgroup hierarchy"},
		{path: "", err: "empty"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			dir, name, err := resolveCgroup(tc.path, mounts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got %s %s %v, want an error saying %q", dir, name, err, tc.err)
				}
				return
			}
			if err != nil || dir != tc.dir || name != tc.name {
				t.Errorf("got %s %s %v, want %s %s", dir, name, err, tc.dir, tc.name)
			}
		})
	}
	if _, _, err := resolveCgroup("x", nil); err == nil || !strings.Contains(err.Error(), "no cgroup v2") {
		t.Errorf("no mounts: %v", err)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (sleep) S 1 1234 1234 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 5678 2240512 132"))
	f.Add([]byte("77 (a) b (c) Z 1 77 77 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 3 0 99 0 0"))
	f.Add([]byte("1 ()) R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseProcStat(b)
		if err != nil {
			return
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || bytes.IndexByte(b[i:], st.state) < 0 {
			t.Errorf("parsed %q as %+v: the state is not after the command name", b, st)
		}
	})
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte("31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"))
	f.Add([]byte("33 30 0:29 / /sys/fs/cgroup/perf\\040event rw - cgroup cgroup rw,perf_event\n"))
	f.Add([]byte(" - cgroup2\n\\\\\\ - \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range parseMountinfo(b) {
			if m.point == "" || m.root == "" {
				t.Errorf("mount %+v with an empty path from %q", m, b)
			}
		}
	})
}
