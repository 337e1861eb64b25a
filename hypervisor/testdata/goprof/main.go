// goprof profiles itself with runtime/pprof, which on Linux samples each
// thread's CPU time with a timer on CLOCK_THREAD_CPUTIME_ID that signals
// the thread itself (and falls back to setitimer(ITIMER_PROF)). Two
// functions of known relative cost (heavy does three times light's work)
// run in turns on GOMAXPROCS goroutines; the profile goes to the file
// named by the first argument.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
)

//go:noinline
func heavy(n int) uint64 {
	x := uint64(1)
	for i := 0; i < 3*n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

//go:noinline
func light(n int) uint64 {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goprof FILE ROUNDS")
		os.Exit(2)
	}
	var rounds int
	if _, err := fmt.Sscan(os.Args[2], &rounds); err != nil {
		fmt.Fprintln(os.Stderr, "goprof: rounds:", err)
		os.Exit(2)
	}
	f, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "goprof:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "goprof:", err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	sums := make([]uint64, runtime.GOMAXPROCS(0))
	for g := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				sums[g] += heavy(1_000_000) + light(1_000_000)
			}
		}()
	}
	wg.Wait()
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "goprof:", err)
		os.Exit(1)
	}
	fmt.Println("goroutines:", len(sums))
}
