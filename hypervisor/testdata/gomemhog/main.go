// Command gomemhog keeps allocating 1 MiB slices until the Go runtime
// runs out of memory, which it reports as "fatal error: out of memory"
// (exit status 2).
package main

var keep [][]byte

func main() {
	for {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
}
