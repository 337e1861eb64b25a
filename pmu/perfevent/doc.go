// Package perfevent is the Linux perf_event_open(2) backend of package pmu.
//
// In the guest-thread -> VCPU -> PCPU -> counter picture it is the bottom
// layer on a real Linux host (or in a VM that has a virtual PMU): the
// kernel's perf subsystem already virtualizes the physical counters per
// thread, and this package exposes that as a [pmu.Source]. Above it sit
// the CLI's stat and record commands, the exporters, and guestlib's
// native fast path.
//
// What it provides:
//
//   - Counting: [Source.Open] opens a [pmu.Group] as one perf group (the
//     leader with group_fd -1, members attached to it, all close-on-exec)
//     on a thread, the calling thread, a CPU, or a process with inherit.
//     [Source.OpenProcess] counts every existing thread of a process, the
//     way perf stat -p does. Reads decode PERF_FORMAT_GROUP|ID with the
//     enabled and running times, matching values to events by ID.
//   - Errors that explain themselves: an errno from perf_event_open
//     becomes a [*pmu.NotSupportedError] whose reason names the cause (no
//     hardware PMU in this VM, perf_event_paranoid and missing
//     CAP_PERFMON, the attribute the kernel most likely refused).
//   - Self-monitoring reads through the perf_event_mmap_page seqlock with
//     rdpmc and rdtsc ([WithUserPage]), falling back to read(2) whenever
//     the page says the count cannot be read from user space. Software
//     events always fall back: their page has index 0, no
//     cap_user_rdpmc and no cap_user_time, and its offset is only the
//     count as of the kernel's last page update (a context switch or an
//     enable), not the live value.
//   - Sampling: [Source.OpenSampler] maps a ring buffer and [Sampler]
//     decodes SAMPLE, MMAP, MMAP2, COMM, FORK, EXIT, LOST and THROTTLE
//     records, blocking in poll(2) until data arrives, the context ends or
//     the sampler is closed.
//   - Launching a command counted from its first instruction:
//     [StartStopped] re-executes the current binary as a trampoline that
//     waits until counters are attached and then execs the command.
//     Programs that use it must call [MaybeRunTrampoline] first thing in
//     main (and in TestMain).
//
// Only internal/unix talks to the kernel's headers; unsafe code lives in
// *_unsafe.go files and assembly (RDPMC, RDTSC) in rdpmc_amd64.s.
package perfevent
