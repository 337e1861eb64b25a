package hypervisor_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/vpmu/vpmu/hypervisor"
)

// Run a program in the VMM and report how it ended. (Not run as a test:
// it needs /dev/kvm.)
func ExampleVM_Run() {
	vm, err := hypervisor.New(hypervisor.Config{VCPUs: 2, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	defer vm.Close()
	status, err := vm.Run(context.Background(), "/usr/bin/bzip2", []string{"bzip2", "--help"})
	var crash *hypervisor.GuestCrash
	switch {
	case errors.As(err, &crash):
		fmt.Println(crash)
		fmt.Println(crash.RegisterDump())
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(status, status.Int())
}

// Count thread switches with hooks; embedding NopHooks keeps the others.
type switchCounter struct {
	hypervisor.NopHooks
	in int
}

func (c *switchCounter) ThreadIn(tid, vcpu int) { c.in++ } // one VCPU: no locking needed

func ExampleHooks() {
	hooks := &switchCounter{}
	vm, err := hypervisor.New(hypervisor.Config{VCPUs: 1, Hooks: hooks})
	if err != nil {
		log.Fatal(err)
	}
	defer vm.Close()
	if _, err := vm.Run(context.Background(), "/usr/bin/bzip2", []string{"bzip2", "--help"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("thread switches:", hooks.in)
}
