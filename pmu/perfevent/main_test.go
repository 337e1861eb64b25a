package perfevent

import (
	"os"
	"runtime"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

func TestMain(m *testing.M) {
	MaybeRunTrampoline()
	if h := os.Getenv(helperEnv); h != "" {
		runHelper(h)
		return
	}
	testutil.RunWithFDCheck(m)
}

// Events built by hand, as the catalog will resolve them.
var (
	evCPUClock      = pmu.Event{Name: "cpu-clock", Kind: pmu.KindSoftware, Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
	evTaskClock     = pmu.Event{Name: "task-clock", Kind: pmu.KindSoftware, Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_TASK_CLOCK}
	evPageFaults    = pmu.Event{Name: "page-faults", Kind: pmu.KindSoftware, Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_PAGE_FAULTS}
	evCtxSwitches   = pmu.Event{Name: "context-switches", Kind: pmu.KindSoftware, Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CONTEXT_SWITCH}
	evCPUMigrations = pmu.Event{Name: "cpu-migrations", Kind: pmu.KindSoftware, Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_MIGRATIONS}
	evInstructions  = pmu.Event{Name: "instructions", Kind: pmu.KindHardware, Type: unix.PERF_TYPE_HARDWARE, Config: unix.PERF_COUNT_HW_INSTRUCTIONS}
	evCycles        = pmu.Event{Name: "cycles", Kind: pmu.KindHardware, Type: unix.PERF_TYPE_HARDWARE, Config: unix.PERF_COUNT_HW_CPU_CYCLES}
	evSyscalls      = pmu.Event{Name: "syscalls", Kind: pmu.KindVirtual, Config: uint64(pmu.VirtSyscalls)}
)

// swGroup is the group of four software events the counting tests and
// benchmarks use.
func swGroup() pmu.Group {
	return pmu.Group{Events: []pmu.Event{evTaskClock, evPageFaults, evCtxSwitches, evCPUMigrations}, Explicit: true}
}

// lockThread pins the test goroutine to its thread for the test.
func lockThread(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// touchPages maps n fresh anonymous pages and writes one byte to each, so
// the calling thread takes exactly n minor page faults (plus any the Go
// runtime takes meanwhile).
func touchPages(t testing.TB, n int) {
	t.Helper()
	size := n * os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += os.Getpagesize() {
		mem[i] = 1
	}
	if err := unix.Munmap(mem); err != nil {
		t.Fatal(err)
	}
}

// sleepSwitches blocks n times in nanosleep, each a voluntary context
// switch of the calling thread.
func sleepSwitches(n int) {
	for i := 0; i < n; i++ {
		ts := unix.Timespec{Nsec: 100_000}
		unix.Nanosleep(&ts, nil)
	}
}

var spinSink uint64

// spin burns CPU deterministically.
func spin(n int) {
	x := uint64(88172645463325252)
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	spinSink += x
}

func valueOf(t testing.TB, vals []pmu.Value, name string) pmu.Value {
	t.Helper()
	for _, v := range vals {
		if v.Event.Name == name {
			return v
		}
	}
	t.Fatalf("no value for %s in %v", name, vals)
	return pmu.Value{}
}
