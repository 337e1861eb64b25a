package hypervisor

import (
	"strings"
	"testing"
)

// TestTimerPrograms runs testdata/timers.c in every mode natively and
// in the VM on one and two VCPUs: POSIX timers with each notification
// (glibc's SIGEV_THREAD included), overruns, SIGEV_NONE countdowns,
// timerfds in poll, select and epoll, and the error cases. The program
// prints only facts that do not depend on timing; the outputs must be
// the same byte for byte, and the native one must hold no failure.
func TestTimerPrograms(t *testing.T) {
	prog := buildC(t, "timers", "-pthread")
	for _, mode := range []string{"posix", "thread-id", "sigev-thread", "overrun", "none", "ignored", "timerfd", "errors"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			native := runNativeProgram(t, nil, prog, mode)
			if native.status != 0 {
				t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
			}
			for _, vcpus := range []int{1, 2} {
				r := runVMProgram(t, Config{VCPUs: vcpus}, prog, mode)
				if r.status != native.status || r.stdout != native.stdout {
					t.Errorf("%d VCPUs: status %d err %v, stdout:\n%s\nnative status %d, stdout:\n%s\ndiff:\n%s\nstderr: %s",
						vcpus, r.status, r.err, r.stdout, native.status, native.stdout, lineDiff(r.stdout, native.stdout), r.stderr)
				}
				if len(r.stats.Unimplemented) != 0 {
					t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
				}
			}
		})
	}
}

// TestTimerCap: a guest that creates POSIX timers in a loop gets EAGAIN
// at maxPosixTimers, can arm every one of them (each a host timer, no
// goroutine), and creates again after deleting one.
func TestTimerCap(t *testing.T) {
	prog := buildC(t, "timers", "-pthread")
	r := runVMProgram(t, Config{VCPUs: 2}, prog, "cap")
	want := "created 1024, then Resource temporarily unavailable\narmed 1024\n" +
		"delete one: 0\ncreate again: 0\nfull again: -1 Resource temporarily unavailable\n"
	if r.status != 0 || r.err != nil || r.stdout != want {
		t.Errorf("status %d err %v stdout:\n%s\nwant:\n%s\nstderr: %s", r.status, r.err, r.stdout, want, r.stderr)
	}
	if strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr: %s", r.stderr)
	}
}
