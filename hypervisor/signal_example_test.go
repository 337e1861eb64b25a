package hypervisor_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/vpmu/vpmu/hypervisor"
)

// Forward the VMM process's SIGINT and SIGTERM to the guest program, as
// vpmu run does: the guest's handlers run, or their default action ends
// it with status 128+signal. (Not run as a test: it needs /dev/kvm.)
func ExampleVM_Signal() {
	vm, err := hypervisor.New(hypervisor.Config{VCPUs: 2, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	defer vm.Close()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(ch)
	go func() {
		for s := range ch {
			// ErrNotRunning once the program has ended.
			vm.Signal(s.(syscall.Signal))
		}
	}()
	status, err := vm.Run(context.Background(), "/usr/bin/bzip2", []string{"bzip2", "-c"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(status)
}
