// Test program for the symbolizer tests. Lines marked MARK:name are found
// by the tests, which check that addresses resolve to them.
package main

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"strconv"
)

var sink int

//go:noinline
func hot(n int) int { // MARK:hot
	s := 0
	for i := 0; i < n; i++ {
		s += mix(i + s) // MARK:callmix
	}
	return s
}

func mix(x int) int { // MARK:mix
	return x*2654435761 ^ x>>13 ^ sink // MARK:mixbody
}

//go:noinline
func cold(n int) int { // MARK:cold
	s := 1
	for i := 0; i < n; i++ {
		s = s*3 + sink
	}
	return s
}

func main() {
	n := 1000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		// Report the runtime addresses, then wait, so a test can read
		// /proc/PID/maps while the program is alive.
		fmt.Printf("hot %#x\ncold %#x\nend\n", reflect.ValueOf(hot).Pointer(), reflect.ValueOf(cold).Pointer())
		bufio.NewReader(os.Stdin).ReadByte()
	}
	sink = hot(n) + cold(n)
}
