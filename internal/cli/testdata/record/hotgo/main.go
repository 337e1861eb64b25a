// Command hotgo has two hot functions whose costs are 3:1 by
// construction, for the vpmu record end-to-end test: heavy and light run
// the same dependent multiply-add chain, heavy for 3*n iterations and
// light for n, alternating many times. Each calls seed first, so that it
// is not a leaf: Go gives a leaf function with no locals no frame, and a
// frame-pointer walk from inside it then skips its caller.
//
// Usage: hotgo [ROUNDS] (default 8000)
package main

import (
	"fmt"
	"os"
	"strconv"
)

const n = 20000

var sink, seeds uint64

//go:noinline
func seed(n uint64) uint64 {
	seeds++
	return n
}

//go:noinline
func heavy(n uint64) uint64 { // MARK:heavy
	x := seed(n)
	for i := uint64(0); i < 3*n; i++ {
		x = x*6364136223846793005 + i
	}
	return x
} // MARK:heavy_end

//go:noinline
func light(n uint64) uint64 { // MARK:light
	x := seed(n)
	for i := uint64(0); i < n; i++ {
		x = x*6364136223846793005 + i
	}
	return x
} // MARK:light_end

func main() {
	rounds := 8000
	if len(os.Args) > 1 {
		r, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotgo: bad ROUNDS:", err)
			os.Exit(2)
		}
		rounds = r
	}
	for r := 0; r < rounds; r++ {
		m := n + uint64(r&7)
		sink += heavy(m) // MARK:call_heavy
		sink += light(m)
	}
	fmt.Println(sink)
}
