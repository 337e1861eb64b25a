package hypervisor

import (
	"context"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/testutil"
)

// TestStaleImmediateExit: immediate_exit left set with no kick pending,
// as when handleKicks takes a kick's reason before the kicker sets
// immediate_exit, costs one interrupted exit, not a livelock of them.
// The test sets it behind the VCPU's back while the guest makes system
// calls; a livelock shows as exits far beyond the calls and the
// injections, and the watchdog then ends the run.
func TestStaleImmediateExit(t *testing.T) {
	testutil.MustHaveKVM(t)
	prog := buildC(t, "bench", "-pthread")
	vm, err := New(Config{VCPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const calls, injections = 20000, 2000
	done := make(chan struct{})
	injected := 0
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			default:
			}
			if vm.Stats().Exits > 100*(calls+injections) {
				t.Errorf("livelock: %d exits for %d system calls", vm.Stats().Exits, calls)
				cancel()
				return
			}
			if injected < injections && vm.Stats().Syscalls > 10 {
				vm.vcpus[0].k.RequestImmediateExit(true)
				injected++
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	st, err := vm.Run(ctx, prog, []string{prog, "getpid", "20000"})
	cancel()
	<-done
	if err != nil || st.Int() != 0 {
		t.Fatalf("run: status %v, %v (%d injected)", st, err, injected)
	}
	s := vm.Stats()
	if s.Syscalls < calls || s.Exits > s.Syscalls+uint64(injected)+s.Kicks+1000 {
		t.Errorf("%d exits for %d system calls, %d stale immediate exits and %d kicks", s.Exits, s.Syscalls, injected, s.Kicks)
	}
	t.Logf("%d exits, %d system calls, %d stale immediate exits injected", s.Exits, s.Syscalls, injected)
}
