package perfevent

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// helperEnv makes the test binary run a helper instead of the tests
// (see runHelper); tests start it with helperCommand.
const helperEnv = "VPMU_PERFEVENT_HELPER"

// helperCommand returns a command that runs this test binary as the named
// helper.
func helperCommand(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// runHelper runs helper h and exits.
func runHelper(h string) {
	switch h {
	case "threads":
		helperThreads()
	case "unpriv":
		helperUnprivileged()
	case "rdpmc":
		// Executes RDPMC(0) without a mapped event: on a CPU without
		// CR4.PCE this must raise #GP (SIGSEGV), never #UD (SIGILL).
		fmt.Println(rdpmcAsm(0))
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", h)
		os.Exit(2)
	}
	os.Exit(0)
}

// helperThreads starts 4 extra threads that each take 300 page faults,
// prints "ready", and waits for stdin to close before exiting.
func helperThreads() {
	const n = 4
	ready := make(chan int)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			ready <- unix.Gettid()
			select {}
		}()
	}
	for i := 0; i < n; i++ {
		<-ready
	}
	fmt.Println("ready")
	r := bufio.NewReader(os.Stdin)
	r.ReadString('\n') // "go": the counters are open
	done := make(chan bool)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			touchPagesRaw(300)
			done <- true
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	fmt.Println("done")
	r.ReadString('\n')
}

func touchPagesRaw(n int) {
	size := n * os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		panic(err)
	}
	for i := 0; i < size; i += os.Getpagesize() {
		mem[i] = 1
	}
	unix.Munmap(mem)
}

// helperUnprivileged runs as an unprivileged user and reports what
// opening events says, one line per attempt.
func helperUnprivileged() {
	s := New()
	user := evTaskClock
	user.Modifiers = "u"
	user.Exclude = pmu.ExcludeKernel | pmu.ExcludeHV
	for _, tc := range []struct {
		name string
		e    pmu.Event
		t    pmu.Target
	}{
		{"kernel", evTaskClock, pmu.ThisThread},
		{"cpu", user, pmu.Target{PID: -1, CPU: 0}},
		{"user", user, pmu.ThisThread},
	} {
		c, err := s.OpenCounter(pmu.Group{Events: []pmu.Event{tc.e}}, tc.t)
		if err != nil {
			fmt.Printf("%s: %v\n", tc.name, err)
			continue
		}
		c.Close()
		fmt.Printf("%s: ok\n", tc.name)
	}
}
