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
	compareModes(t, buildC(t, "signalfd", "-pthread"), "read", "mask", "poll", "threads", "timer", "fdops", "errors")
}
