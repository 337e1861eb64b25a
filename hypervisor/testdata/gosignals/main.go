// Command gosignals is a static Go program for the hypervisor's signal
// and Go-runtime tests. It runs with the garbage collector on, so the
// runtime's timers (epoll_pwait with timeouts on an eventfd), its
// asynchronous preemption (tgkill SIGURG, a handler that rewrites the
// signal context) and os/signal all take part. Its output depends on
// nothing but its arguments.
//
//	gosignals pipeline   goroutines, timers, a channel pipeline, a WaitGroup fan-in
//	gosignals signal     os/signal catches SIGUSR1 the program sends itself
//	gosignals gc         runtime.GC in a loop while goroutines spin without calls
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func main() {
	mode := "pipeline"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "pipeline":
		pipeline()
	case "signal":
		signals()
	case "gc":
		gcLoop()
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}

// pipeline: generate -> square (8 workers) -> sum, with sleeps in every
// stage, plus 300 sleepers fanned in through a WaitGroup.
func pipeline() {
	gen := make(chan int)
	go func() {
		for i := 1; i <= 2000; i++ {
			if i%250 == 0 {
				time.Sleep(time.Millisecond)
			}
			gen <- i
		}
		close(gen)
	}()
	squares := make(chan int, 16)
	var workers sync.WaitGroup
	for w := 0; w < 8; w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for v := range gen {
				if v%100 == 0 {
					time.Sleep(200 * time.Microsecond)
				}
				buf := make([]byte, 1024+v%4096) // garbage for the collector
				buf[0] = byte(v)
				squares <- v * v * int(buf[0]|1) / int(buf[0]|1)
			}
		}()
	}
	go func() { workers.Wait(); close(squares) }()

	var sleepers sync.WaitGroup
	var mu sync.Mutex
	woke := 0
	for i := 0; i < 300; i++ {
		sleepers.Add(1)
		go func() {
			defer sleepers.Done()
			time.Sleep(time.Duration(i%7+1) * time.Millisecond)
			t := time.NewTimer(time.Duration(i%3) * time.Millisecond)
			<-t.C
			mu.Lock()
			woke++
			mu.Unlock()
		}()
	}
	sum := 0
	n := 0
	for v := range squares {
		sum += v
		n++
	}
	sleepers.Wait()
	tick := time.NewTicker(2 * time.Millisecond)
	ticks := 0
	for range tick.C {
		if ticks++; ticks == 5 {
			break
		}
	}
	tick.Stop()
	select {
	case <-time.After(3 * time.Millisecond):
		fmt.Println("time.After fired")
	}
	fmt.Println("pipeline:", n, "values, sum of squares", sum)
	fmt.Println("sleepers woke:", woke, "ticks:", ticks)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println("the collector ran:", ms.NumGC > 0)
}

// signals: os/signal delivers SIGUSR1 the program sends itself, three
// times; then it is ignored, then reset.
func signals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	for i := 0; i < 3; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			fmt.Println("kill:", err)
			os.Exit(1)
		}
		select {
		case s := <-c:
			fmt.Println("got", s)
		case <-time.After(30 * time.Second):
			fmt.Println("no signal")
			os.Exit(1)
		}
	}
	signal.Ignore(syscall.SIGUSR2)
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	time.Sleep(10 * time.Millisecond)
	fmt.Println("SIGUSR2 ignored")
	// A signal to one thread, as tgkill: the runtime forwards it too.
	signal.Notify(c, syscall.SIGUSR2)
	syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGUSR2)
	fmt.Println("got", <-c)
	signal.Stop(c)
	fmt.Println("done")
}

// gcLoop: goroutines spin in loops without function calls (only
// asynchronous preemption can stop them) while the main goroutine
// collects garbage again and again.
func gcLoop() {
	var stop sync.WaitGroup
	var quit int32
	results := make([]uint64, 4)
	for g := 0; g < 4; g++ {
		stop.Add(1)
		go func() {
			defer stop.Done()
			x := uint64(g + 1)
			for i := 0; ; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				if i&(1<<20-1) == 0 && atomicLoad(&quit) != 0 {
					break
				}
			}
			results[g] = x & 1
		}()
	}
	var keep [][]byte
	for i := 0; i < 20; i++ {
		keep = append(keep, make([]byte, 64<<10))
		if len(keep) > 8 {
			keep = keep[1:]
		}
		runtime.GC()
	}
	atomicStore(&quit, 1)
	stop.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println("collections at least 20:", ms.NumGC >= 20, "GOMAXPROCS", runtime.GOMAXPROCS(0))
}
