package hypervisor

import "testing"

// TestSignalfdPrograms runs testdata/signalfd.c in every mode natively
// and in the VM on one and two VCPUs: signals read through signalfds
// (kill, tgkill, sigqueue with values, several per read, real-time
// order, the thread's queue before the process's), masks replaced with
// signalfd4, readiness in poll, select and epoll (level- and
// edge-triggered), blocking reads woken by another thread and
// interrupted by handlers, a POSIX timer's signal (SI_TIMER, the timer
// id, overruns, stale signals dropped), dup, fcntl, fstat,
// /proc/self/fd, and the error cases. The program prints only facts
// that do not depend on timing; the outputs must be the same byte for
// byte, the native run must succeed, and the VM must meet no
// unimplemented system call.
func TestSignalfdPrograms(t *testing.T) {
	prog := buildC(t, "signalfd", "-pthread")
	for _, mode := range []string{"read", "mask", "poll", "threads", "timer", "fdops", "errors"} {
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
