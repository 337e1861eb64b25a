package exporters

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procStat is what the native targets need from /proc/PID/stat or
// /proc/PID/task/TID/stat.
type procStat struct {
	state   byte   // R, S, D, Z, X, ...
	threads int    // num_threads
	start   uint64 // starttime, in clock ticks after boot: tells a reused id apart
}

// parseProcStat parses the contents of a stat file. The command name (in
// parentheses) may itself contain spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procStat{}, errors.New("no ')' after the command name")
	}
	// Fields from 3 (state) on; num_threads is field 20, starttime 22.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least 20", len(f))
	}
	threads, err := strconv.Atoi(f[17])
	if err != nil {
		return procStat{}, fmt.Errorf("num_threads %q: %w", f[17], err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("starttime %q: %w", f[19], err)
	}
	return procStat{state: f[0][0], threads: threads, start: start}, nil
}

// readProcStat reads and parses a stat file.
func readProcStat(path string) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	st, err := parseProcStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// taskGone reports whether the task whose stat file is path, which had
// start time start when its counters were opened, has exited: the file is
// gone, the id now belongs to another task, or the task is a zombie.
// A process is gone only when its zombie leader is its last thread (a
// leader that called pthread_exit is a zombie while the other threads
// run). Errors other than a missing file say nothing and return false.
func taskGone(path string, start uint64, process bool) bool {
	st, err := readProcStat(path)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	if st.start != start {
		return true
	}
	dead := st.state == 'Z' || st.state == 'X'
	if process {
		return dead && st.threads <= 1
	}
	return dead
}

// readComm reads a task's comm file as a valid UTF-8 label value.
func readComm(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.ToValidUTF8(strings.TrimSuffix(string(b), "\n"), "\uFFFD")
}

// cgroupMount is a mounted cgroup hierarchy that perf can count in.
type cgroupMount struct {
	point string // where it is mounted
	root  string // the cgroup the mount shows as its root ("/" normally)
	v2    bool
}

// parseMountinfo returns the cgroup v2 mounts and the cgroup v1 mounts
// with the perf_event controller, in the order listed.
func parseMountinfo(b []byte) []cgroupMount {
	var ms []cgroupMount
	for _, line := range strings.Split(string(b), "\n") {
		// id parent maj:min root point options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 1 {
			continue
		}
		m := cgroupMount{point: unescapeMount(f[4]), root: unescapeMount(f[3])}
		switch {
		case g[0] == "cgroup2":
			m.v2 = true
		case g[0] == "cgroup" && len(g) >= 3 && hasOption(g[2], "perf_event"):
		default:
			continue
		}
		ms = append(ms, m)
	}
	return ms
}

func hasOption(opts, name string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == name {
			return true
		}
	}
	return false
}

// unescapeMount undoes the octal escapes (\040 for a space) of
// mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// resolveCgroup finds the directory of the cgroup a user named, among
// the mounts. path is either a directory under a mount
// (/sys/fs/cgroup/jobs/a) or a cgroup path relative to the hierarchy's
// root (jobs/a or /jobs/a), looked up in the cgroup v2 hierarchy, or in
// the v1 perf_event hierarchy where there is no v2. It returns the
// directory and the cgroup's name in its hierarchy ("/jobs/a"), which
// labels the metrics.
func resolveCgroup(path string, mounts []cgroupMount) (dir, name string, err error) {
	if len(mounts) == 0 {
		return "", "", errors.New("no cgroup v2 hierarchy (or v1 hierarchy with the perf_event controller) is mounted")
	}
	if path == "" {
		return "", "", errors.New("empty cgroup path")
	}
	clean := filepath.Clean(path)
	if filepath.IsAbs(clean) {
		// Longest mount point that contains the path.
		best := -1
		for i, m := range mounts {
			if within(clean, m.point) && (best < 0 || len(m.point) > len(mounts[best].point)) {
				best = i
			}
		}
		if best >= 0 {
			m := mounts[best]
			rel, _ := filepath.Rel(m.point, clean)
			return clean, filepath.Join("/", m.root, rel), checkDir(clean)
		}
	}
	m := mounts[0]
	for _, c := range mounts {
		if c.v2 {
			m = c
			break
		}
	}
	rel := filepath.Clean("/" + path) // cannot climb above the root
	dir = filepath.Join(m.point, rel)
	if err := checkDir(dir); err != nil {
		if filepath.IsAbs(clean) && checkDir(clean) == nil {
			return "", "", fmt.Errorf("%s is not in a cgroup hierarchy perf can count in, nor a cgroup of the hierarchy mounted at %s (cgroup v2, or a v1 hierarchy with the perf_event controller)", clean, m.point)
		}
		return "", "", fmt.Errorf("%w (cgroup %q looked up in the hierarchy mounted at %s)", err, path, m.point)
	}
	return dir, filepath.Join("/", m.root, rel), nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
