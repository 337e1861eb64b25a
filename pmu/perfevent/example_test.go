package perfevent_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

// User-mode events (:u), which perf_event_paranoid 2, the usual default,
// allows without privileges.
var (
	taskClock  = pmu.Event{Name: "task-clock", Modifiers: "u", Kind: pmu.KindSoftware, Type: 1, Config: 1, Exclude: pmu.ExcludeKernel | pmu.ExcludeHV}
	pageFaults = pmu.Event{Name: "page-faults", Modifiers: "u", Kind: pmu.KindSoftware, Type: 1, Config: 2, Exclude: pmu.ExcludeKernel | pmu.ExcludeHV}
)

// Count the calling thread's page faults around some work.
func ExampleSource_OpenCounter() {
	runtime.LockOSThread() // a ThisThread counter counts this OS thread
	defer runtime.UnlockOSThread()

	g := pmu.Group{Events: []pmu.Event{taskClock, pageFaults}}
	c, err := perfevent.New().OpenCounter(g, pmu.ThisThread)
	if err != nil {
		fmt.Println(err) // e.g. not supported, with the reason
		return
	}
	defer c.Close()

	// Work: touch 100 fresh pages (100 page faults).
	buf, err := syscall.Mmap(-1, 0, 100*os.Getpagesize(), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer syscall.Munmap(buf)
	for i := 0; i < len(buf); i += os.Getpagesize() {
		buf[i] = 1
	}

	vals, err := c.Read()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range vals {
		n, ok := v.Scaled()
		fmt.Printf("%s counted: %v, at least 100: %v\n", v.Event, ok, n >= 100)
	}
	// Output:
	// task-clock:u counted: true, at least 100: true
	// page-faults:u counted: true, at least 100: true
}

// Count a command from its first instruction, as perf stat does. The
// program's main must call perfevent.MaybeRunTrampoline first.
func ExampleStartStopped() {
	cmd := exec.Command("/bin/true")
	st, err := perfevent.StartStopped(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := perfevent.New().OpenCounter(pmu.Group{Events: []pmu.Event{taskClock}}, st.Target())
	if err != nil {
		st.Abort()
		cmd.Wait()
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := st.Release(); err != nil {
		cmd.Wait()
		fmt.Println(err)
		return
	}
	st.Wait()
	vals, _ := c.Read()
	fmt.Println(cmd.ProcessState, "- task-clock counted:", vals[0].Counted())
	// Output:
	// exit status 0 - task-clock counted: true
}

// A sampling configuration the decoder cannot handle is refused before
// any system call.
func ExampleSource_OpenSampler_badConfig() {
	cpuClock := pmu.Event{Name: "cpu-clock", Kind: pmu.KindSoftware, Type: 1, Config: 0}
	_, err := perfevent.New().OpenSampler(pmu.Group{Events: []pmu.Event{cpuClock}}, pmu.ThisThread,
		perfevent.SampleConfig{Period: 100_000, DataPages: 3})
	fmt.Println(err)
	// Output:
	// perfevent: open sampler cpu-clock: sample config: DataPages 3 is not a power of two
}
