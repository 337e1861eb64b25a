// Command goguest is a static Go program for the hypervisor tests: many
// goroutines, channels and a mutex.
package main

import (
	"fmt"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := make(chan int, 64)
	sum := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			buf[i%len(buf)] = byte(i)
			mu.Lock()
			sum += i
			mu.Unlock()
			results <- int(buf[i%len(buf)])
		}()
	}
	go func() { wg.Wait(); close(results) }()
	n := 0
	for range results {
		n++
	}
	fmt.Println("goroutines", n, "sum", sum)
}
