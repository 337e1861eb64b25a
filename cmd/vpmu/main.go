// Command vpmu counts and profiles programs with virtual performance
// counters. See 'vpmu help'.
package main

import (
	"os"

	"github.com/vpmu/vpmu/internal/cli"
	"github.com/vpmu/vpmu/pmu/perfevent"
)

func main() {
	// vpmu stat starts commands through a copy of this binary that
	// waits, before exec, for the counters to be attached.
	perfevent.MaybeRunTrampoline()
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
