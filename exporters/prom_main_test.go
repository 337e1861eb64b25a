package exporters

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// helperEnv makes the test binary run a helper process instead of the
// tests; see runHelper.
const helperEnv = "VPMU_EXPORTERS_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		runHelper(h)
		return
	}
	testutil.RunWithFDCheck(m)
}

// runHelper runs helper h: "threads N" starts N extra threads that spin
// (each locked to its OS thread), prints "ready", and then, for each
// line "stop" on stdin, ends one of them; "idle N" starts N threads that
// block. Both exit when stdin closes.
func runHelper(h string) {
	// Keep the main thread for this goroutine: a goroutine locked to
	// the main thread that exits does not end the thread (the runtime
	// parks it), so "stop" would not make a thread exit.
	runtime.LockOSThread()
	name, arg, _ := strings.Cut(h, " ")
	n, _ := strconv.Atoi(arg)
	switch name {
	case "threads":
	case "idle":
		idleThreads(n)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", h)
		os.Exit(2)
	}
	stops := make(chan bool)
	started := make(chan bool)
	for i := 0; i < n; i++ {
		go func() {
			// Never unlocked: the thread exits with the goroutine.
			runtime.LockOSThread()
			started <- true
			x := uint64(1)
			for {
				select {
				case <-stops:
					return
				default:
				}
				for j := 0; j < 1e5; j++ {
					x = x*6364136223846793005 + 1
				}
				if x == 0 {
					fmt.Println(x)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		<-started
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stop" {
			stops <- true
			fmt.Println("stopped")
		}
	}
	os.Exit(0)
}

// idleThreads starts n threads that block, prints "ready" and exits
// when stdin closes.
func idleThreads(n int) {
	started := make(chan bool)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			started <- true
			select {}
		}()
	}
	for i := 0; i < n; i++ {
		<-started
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startThreads starts the "threads" helper with n spinning threads and
// waits until they run. The helper is killed at the end of the test.
func startThreads(t testing.TB, n int) *helper { return startHelper(t, "threads", n) }

// startIdleThreads starts the "idle" helper with n blocked threads.
func startIdleThreads(t testing.TB, n int) *helper { return startHelper(t, "idle", n) }

func startHelper(t testing.TB, name string, n int) *helper {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+name+" "+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(h.kill)
	h.expect(t, "ready")
	return h
}

func (h *helper) expect(t testing.TB, want string) {
	t.Helper()
	line, err := h.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != want {
		t.Fatalf("helper said %q (%v), want %q", line, err, want)
	}
}

// kill ends the helper and reaps it; it may be called more than once.
func (h *helper) kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	h.cmd.Process.Signal(syscall.SIGKILL)
	h.stdin.Close()
	h.cmd.Wait()
}

// eventually calls f until it returns true, failing the test after a
// generous deadline. It waits for progress of another process (CPU time
// consumed), not for a duration.
func eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cgroupForTest creates a cgroup v2 directory for the test and returns
// its path, or skips with the reason when cgroup v2 is not mounted or not
// writable here. The directory is removed at the end of the test, after
// the processes moved into it have been killed.
func cgroupForTest(t testing.TB) string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("skipping: cannot read mountinfo: %v", err)
	}
	var root string
	for _, m := range parseMountinfo(mi) {
		if m.v2 {
			root = m.point
			break
		}
	}
	if root == "" {
		t.Skip("skipping: no cgroup v2 hierarchy is mounted")
	}
	dir, err := os.MkdirTemp(root, "vpmu-test-")
	if err != nil {
		t.Skipf("skipping: cgroup v2 at %s is not writable: %v", root, err)
	}
	t.Cleanup(func() {
		// The test's processes are gone by now (cleanups run last in,
		// first out); the kernel needs a moment to empty the cgroup.
		eventuallyQuiet(func() bool { return os.Remove(dir) == nil || os.IsNotExist(os.Remove(dir)) })
	})
	return dir
}

// eventuallyQuiet retries f for a while without failing anything.
func eventuallyQuiet(f func() bool) {
	for i := 0; i < 200 && !f(); i++ {
		time.Sleep(5 * time.Millisecond)
	}
}

// moveToCgroup moves process pid into the cgroup directory dir.
func moveToCgroup(t testing.TB, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("move %d into %s: %v", pid, dir, err)
	}
}

// hardwareCounts reports whether this machine counts hardware events.
func hardwareCounts() bool {
	return perfevent.New().Probe(pmu.MustParseSpec("cycles").Events()[0]) == nil
}
