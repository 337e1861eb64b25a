// Command vpmuguest is the guest side of the hypervisor's virtual-PMU
// tests: it reads its own counters through guestlib inside the VM and
// prints what it saw, one fact per line, for the test to check.
//
//	vpmuguest tally N   N threads, thread i making 50*(i+1)+i getpid calls
//	                    between two direct reads
//	vpmuguest time      monotonic reads under switches; guest time across
//	                    sleeps and across getpid
//	vpmuguest bench N   N direct reads of a group of 4, then PV reads
//
// Run it with GODEBUG=asyncpreemptoff=1, so that no preemption signal
// lands inside a measured region.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/guestlib"
)

// getpidLoop makes n getpid system calls (loop_amd64.s).
func getpidLoop(n int)

func main() {
	if !guestlib.InVM() {
		fmt.Println("not in vpmu")
		os.Exit(2)
	}
	arg := func(i, def int) int {
		if len(os.Args) > i {
			if n, err := strconv.Atoi(os.Args[i]); err == nil {
				return n
			}
		}
		return def
	}
	var err error
	switch os.Args[1] {
	case "tally":
		err = tally(arg(2, 8))
	case "time":
		err = timing()
	case "bench":
		err = bench(arg(2, 1000000))
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

// tally: every worker thread reads its counters directly around a known
// number of system calls, then once through the PV call. The workers
// open their counters first, each locking its goroutine to a thread of
// its own, and start together.
func tally(n int) error {
	start := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(n)
	lines := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines[i], errs[i] = worker(i, 50*(i+1)+i, &ready, start)
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			return errs[i]
		}
		fmt.Println(lines[i])
	}
	return nil
}

func worker(i, k int, ready *sync.WaitGroup, start <-chan struct{}) (string, error) {
	s, err := guestlib.Open("syscalls,vm-exits,task-clock")
	ready.Done()
	if err != nil {
		return "", err
	}
	defer s.Close()
	r0, r1, pv := make([]guestlib.Reading, 3), make([]guestlib.Reading, 3), make([]guestlib.Reading, 3)
	<-start
	if err := s.Read(r0); err != nil {
		return "", err
	}
	getpidLoop(k)
	if err := s.Read(r1); err != nil {
		return "", err
	}
	if err := s.ReadPV(pv); err != nil {
		return "", err
	}
	return fmt.Sprintf("worker %d tid %d k %d syscalls %d exits %d pv %d total %d", i, syscall.Gettid(), k,
		r1[0].Value-r0[0].Value, r1[1].Value-r0[1].Value, pv[0].Value-r1[0].Value, pv[0].Value), nil
}

// timing checks guest time: monotonic reads while busy threads force
// switches, and what a sleep and a getpid add.
func timing() error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			for {
				select {
				case <-stop:
					return
				default:
					getpidLoop(10)
				}
			}
		}()
	}
	s, err := guestlib.Open("task-clock,syscalls,context-switches")
	if err != nil {
		return err
	}
	defer s.Close()
	var prev [3]guestlib.Reading
	r := make([]guestlib.Reading, 3)
	const reads = 500000
	for i := range reads {
		if err := s.Read(r); err != nil {
			return err
		}
		if r[0].Value < prev[0].Value || r[0].Enabled < prev[0].Enabled || r[1].Value < prev[1].Value {
			return fmt.Errorf("read %d went back: task-clock %d after %d, enabled %v after %v, syscalls %d after %d",
				i, r[0].Value, prev[0].Value, r[0].Enabled, prev[0].Enabled, r[1].Value, prev[1].Value)
		}
		copy(prev[:], r)
		if i%500 == 0 {
			getpidLoop(1)
		}
	}
	close(stop)
	wg.Wait()
	fmt.Printf("monotonic reads %d switches %d\n", reads, r[2].Value)
	a, b := make([]guestlib.Reading, 3), make([]guestlib.Reading, 3)
	for range 10 {
		s.Read(a)
		getpidLoop(1)
		s.Read(b)
		getpid := b[0].Value - a[0].Value
		s.Read(a)
		ts := syscall.Timespec{Nsec: 20e6}
		syscall.Nanosleep(&ts, nil)
		s.Read(b)
		fmt.Printf("sleep 20ms accrued %d getpid accrued %d\n", b[0].Value-a[0].Value, getpid)
	}
	// A compute loop with no system call in it, timed by the wall clock.
	t0 := time.Now()
	s.Read(a)
	x := uint64(88172645463325252)
	for range 100_000_000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	s.Read(b)
	fmt.Printf("loop %d accrued %d\n", time.Since(t0).Nanoseconds(), b[0].Value-a[0].Value+x%2-x%2)
	return nil
}

// bench times direct reads of a group of four and PV reads.
func bench(n int) error {
	s, err := guestlib.Open("{task-clock,syscalls,vm-exits,context-switches}")
	if err != nil {
		return err
	}
	defer s.Close()
	kinds, err := guestlib.Open("{vm-exits-interrupt,vm-exits-io,vm-exits-exception,vm-exits-mmio}")
	if err != nil {
		return err
	}
	defer kinds.Close()
	k0, k1 := make([]guestlib.Reading, 4), make([]guestlib.Reading, 4)
	r := make([]guestlib.Reading, 4)
	for range 1000 {
		s.Read(r)
	}
	t0 := time.Now()
	kinds.Read(k0)
	s.Read(r)
	e0 := r[2].Value
	for range n {
		if err := s.Read(r); err != nil {
			return err
		}
	}
	e1 := r[2].Value
	kinds.Read(k1)
	d := time.Since(t0)
	fmt.Printf("exits during the loop: interrupt %d io %d exception %d mmio %d\n",
		k1[0].Value-k0[0].Value, k1[1].Value-k0[1].Value, k1[2].Value-k0[2].Value, k1[3].Value-k0[3].Value)
	fmt.Printf("direct reads %d ns/read %.1f exits %d\n", n, float64(d.Nanoseconds())/float64(n), e1-e0)
	const pv = 2000
	t0 = time.Now()
	for range pv {
		if err := s.ReadPV(r); err != nil {
			return err
		}
	}
	fmt.Printf("pv reads %d ns/read %.0f\n", pv, float64(time.Since(t0).Nanoseconds())/pv)
	return nil
}
