package testutil

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// openFDs lists the process's open file descriptors with their targets.
func openFDs() (map[string]string, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the fd ReadDir itself used, now closed
		}
		fds[e.Name()] = target
	}
	return fds, nil
}

// RunWithFDCheck runs the package's tests and then fails (exit status 1)
// if file descriptors opened during the run are still open: unclosed perf
// event and KVM fds show up here. Use it from TestMain:
//
//	func TestMain(m *testing.M) { testutil.RunWithFDCheck(m) }
func RunWithFDCheck(m *testing.M) {
	before, err := openFDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fd check:", err)
		os.Exit(1)
	}
	code := m.Run()
	after, err := openFDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fd check:", err)
		os.Exit(1)
	}
	// Profiles the test binary writes (-test.cpuprofile, ...) stay open
	// until it exits.
	profiles := map[string]bool{}
	for _, name := range []string{"test.cpuprofile", "test.memprofile", "test.blockprofile", "test.mutexprofile", "test.trace", "test.coverprofile"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			if abs, err := filepath.Abs(f.Value.String()); err == nil {
				profiles[abs] = true
			}
			if dir := flag.Lookup("test.outputdir"); dir != nil && dir.Value.String() != "" {
				profiles[filepath.Join(dir.Value.String(), f.Value.String())] = true
			}
		}
	}
	var leaked []string
	for fd, target := range after {
		if profiles[target] {
			continue
		}
		if _, ok := before[fd]; ok {
			continue
		}
		// Go's runtime and test framework open a few fds of their own.
		if strings.HasPrefix(target, "anon_inode:[eventpoll]") || strings.HasPrefix(target, "anon_inode:[eventfd]") || strings.HasPrefix(target, "pipe:") {
			continue
		}
		leaked = append(leaked, fd+" -> "+target)
	}
	if len(leaked) > 0 && code == 0 {
		sort.Strings(leaked)
		fmt.Fprintf(os.Stderr, "FAIL: %d file descriptors leaked by tests:\n\t%s\n", len(leaked), strings.Join(leaked, "\n\t"))
		code = 1
	}
	os.Exit(code)
}
