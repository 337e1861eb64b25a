// Package guestlib is what a program imports to read its own logical
// performance counters.
//
// It has one API in two places. Inside the vpmu hypervisor it opens
// counters through the paravirtual interface and reads them directly from
// the thread's state page: a handful of loads and an rdtsc, no trap, no
// VM exit (see package pmu/virt for the algebra and the page layout). On
// plain Linux (bare metal, or any VM with a virtual PMU) it uses
// perf_event_open with the mmap user page, and rdpmc where the kernel
// allows it, read(2) otherwise.
//
// In the guest-thread -> VCPU -> PCPU -> counter picture, guestlib runs in
// the guest thread: counters are per OS thread, so [Open] locks the
// calling goroutine to its OS thread until [Set.Close], and a Set must be
// used only from the goroutine that opened it.
//
//	s, err := guestlib.Open("task-clock,syscalls")   // perf-style spec
//	r := make([]guestlib.Reading, len(s.Events()))
//	s.Read(r)    // value, enabled and running time per event, per group consistent
//
// [InVM] tells which place the program is in. Inside vpmu, [Set.ReadPV]
// reads through the paravirtual call (exact for host hardware counters),
// [Set.ReadInherited] adds the threads that inherited the counters, and
// [Precise] counts instructions and branches exactly by single-stepping.
// docs/vpmu.md explains the counts.
package guestlib
