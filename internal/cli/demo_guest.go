package cli

import (
	"errors"
	"flag"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/guestlib"
)

// demoGetpidLoop makes n getpid system calls (demo_guest_amd64.s).
func demoGetpidLoop(n int)

// demoGuestCommand is the workload vpmu demo runs inside the hypervisor:
// the vpmu binary running itself as the guest.
var demoGuestCommand = &command{
	name:   "__demo-guest",
	hidden: true,
	usage:  demoGuestUsage,
	run:    runDemoGuest,
}

const demoGuestUsage = `Usage: vpmu __demo-guest [--threads N]

The guest side of 'vpmu demo'; it runs only inside the vpmu hypervisor.
`

// demoGuestEvents is what each demo worker reads itself.
const demoGuestEvents = "syscalls,task-clock,context-switches,cpu-migrations"

// demoWork returns the system calls and the compute iterations of demo
// worker i.
func demoWork(i int) (calls, iters int) { return 100 * (i + 1), (i%3 + 1) * 3_000_000 }

func runDemoGuest(env *Env, args []string) int {
	fs := newFlagSet("__demo-guest")
	threads := fs.Int("threads", 6, "")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.Stdout, demoGuestUsage)
			return exitOK
		}
		return env.fail("__demo-guest", err)
	}
	if !guestlib.InVM() {
		return env.fail("__demo-guest", errors.New("this is the guest side of 'vpmu demo': it runs only inside the vpmu hypervisor"))
	}
	if *threads < 1 || *threads > 32 {
		return env.fail("__demo-guest", usagef("--threads %d: want 1 to 32", *threads))
	}
	lines, err := demoWorkers(*threads)
	if err != nil {
		return env.fail("__demo-guest", err)
	}
	for _, l := range lines {
		fmt.Fprintln(env.Stdout, l)
	}
	return exitOK
}

// demoWorkers runs n worker threads at once. Each opens its counters
// (locking its goroutine to a thread of its own), waits for the others,
// then reads its counters around a known number of system calls and some
// computation.
func demoWorkers(n int) ([]string, error) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	lines := make([]string, n)
	errs := make([]error, n)
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			lines[i], errs[i] = demoWorker(i, &ready, start)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return lines, errors.Join(errs...)
}

func demoWorker(i int, ready *sync.WaitGroup, start <-chan struct{}) (string, error) {
	s, err := guestlib.Open(demoGuestEvents)
	ready.Done()
	if err != nil {
		return "", err
	}
	defer s.Close()
	calls, iters := demoWork(i)
	a, b := make([]guestlib.Reading, 4), make([]guestlib.Reading, 4)
	<-start
	if err := s.Read(a); err != nil {
		return "", err
	}
	demoGetpidLoop(calls)
	x := uint64(88172645463325252)
	for range iters {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	if err := s.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("  worker %d (thread %d): made %d system calls, counted %d; %v of guest time; %d context switches, %d migrations (checksum %d)",
		i, syscall.Gettid(), calls, b[0].Value-a[0].Value, time.Duration(b[1].Value-a[1].Value).Round(time.Microsecond),
		b[2].Value-a[2].Value, b[3].Value-a[3].Value, x%10), nil
}
