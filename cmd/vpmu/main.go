// Command vpmu counts and profiles programs with virtual performance
// counters. See 'vpmu help'.
package main

import (
	"os"

	"github.com/vpmu/vpmu/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
