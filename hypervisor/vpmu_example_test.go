package hypervisor_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/pmu"
)

// Count a program's system calls and guest time per thread with the
// virtual PMU. (Not run as a test: it needs /dev/kvm.)
func ExampleVPMU_Counts() {
	vm, err := hypervisor.New(hypervisor.Config{VCPUs: 2, PCPUs: 1,
		VPMU: hypervisor.VPMUConfig{Spec: pmu.MustParseSpec("syscalls,task-clock,cycles")}})
	if err != nil {
		log.Fatal(err)
	}
	defer vm.Close()
	if _, err := vm.Run(context.Background(), "/usr/bin/bzip2", []string{"bzip2", "--help"}); err != nil {
		log.Fatal(err)
	}
	c := vm.VPMU().Counts()
	for i, e := range c.Events {
		if c.Errs[i] != nil {
			fmt.Println(c.Errs[i]) // e.g. cycles without a host PMU: not supported, and why
			continue
		}
		for _, th := range c.Threads {
			fmt.Printf("%s-%d %s %d\n", th.Comm, th.TID, e, th.Values[i].Raw)
		}
		fmt.Printf("total %s %d\n", e, c.Total[i].Raw)
	}
}
