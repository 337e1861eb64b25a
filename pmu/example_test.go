package pmu_test

import (
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/pmu"
)

// ExampleParseSpec parses a perf-style event list against a catalog built
// from a fake sysfs tree (pass "/sys", or nil for DefaultCatalog, on a
// live system).
func ExampleParseSpec() {
	cat, err := pmu.NewCatalog("testdata/sysfs")
	if err != nil {
		panic(err)
	}
	spec, err := pmu.ParseSpec("{cycles,instructions}:u,task-clock,cpu/event=0x3c,umask=0x1/k,r01c2", cat)
	if err != nil {
		panic(err)
	}
	for _, g := range spec.Groups {
		fmt.Printf("group of %d (braces: %v)\n", len(g.Events), g.Explicit)
		for _, e := range g.Events {
			fmt.Printf("  %-26s kind=%q type=%d config=%#x user-only=%v\n",
				e, e.Kind, e.Type, e.Config, e.Exclude == pmu.ExcludeKernel|pmu.ExcludeHV)
		}
	}
	fmt.Println(spec)
	// Output:
	// group of 2 (braces: true)
	//   cycles:u                   kind="Hardware event" type=0 config=0x0 user-only=true
	//   instructions:u             kind="Hardware event" type=0 config=0x1 user-only=true
	// group of 1 (braces: false)
	//   task-clock                 kind="Software event" type=1 config=0x1 user-only=false
	// group of 1 (braces: false)
	//   cpu/event=0x3c,umask=0x1/:k kind="Kernel PMU event" type=4 config=0x13c user-only=false
	// group of 1 (braces: false)
	//   r01c2                      kind="Raw hardware event descriptor" type=4 config=0x1c2 user-only=false
	// {cycles:u,instructions:u},task-clock,cpu/event=0x3c,umask=0x1/:k,r01c2
}

// ExampleSpecError shows how a spec error points at the offending token.
func ExampleSpecError() {
	_, err := pmu.ParseSpec("cycles:u,instructions:x", nil)
	var se *pmu.SpecError
	if errors.As(err, &se) {
		fmt.Println(se.Msg)
		fmt.Println(se.Caret())
	}
	// Output:
	// unknown modifier "x"; valid modifiers: u k h G H I p P D
	// cycles:u,instructions:x
	//                       ^
}

// ExampleCatalog_Lookup resolves perf's names for events.
func ExampleCatalog_Lookup() {
	cat, err := pmu.NewCatalog("testdata/sysfs")
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"cycles", "l1d-load-miss", "tsc", "uncore_imc_0/cas_count_read/"} {
		e, ok := cat.Lookup(name)
		fmt.Printf("%-30s ok=%v %-30s type=%d config=%#x unit=%q scale=%g\n", name, ok, e.Name, e.Type, e.Config, e.Unit, e.Scale)
	}
	// Output:
	// cycles                         ok=true cycles                         type=0 config=0x0 unit="" scale=0
	// l1d-load-miss                  ok=true l1d-load-miss                  type=3 config=0x10000 unit="" scale=0
	// tsc                            ok=true msr/tsc/                       type=9 config=0x0 unit="" scale=0
	// uncore_imc_0/cas_count_read/   ok=true uncore_imc_0/cas_count_read/   type=16 config=0x304 unit="MiB" scale=6.103515625e-05
}
