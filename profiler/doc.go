// Package profiler turns counter overflows into pprof profiles.
//
// It sits at the end of vpmu's guest-thread -> VCPU -> PCPU -> counter
// picture. A sampling counter overflows every Period events; each
// overflow becomes a [Sample]: the interrupted instruction pointer, the
// return addresses of its callers, and who was running (process and
// thread, the VCPU it was scheduled on, the PCPU under that VCPU, the VM).
// Natively the overflows are perf_event sampling records; inside the vpmu
// hypervisor they are virtual PMIs, at which the VMM reads the guest
// thread's RIP and walks its frame pointers in guest memory. Both reach
// this package in the same neutral form, as a [Stream] of [Event]s, so
// the profile of a guest thread and of a host thread mean the same thing.
//
// A [Builder] accumulates the samples of one event. It resolves every
// address, when the sample arrives, against the mappings its process had
// at that time ([Processes], fed by MMAP, COMM and FORK events or by
// /proc/PID/maps), and names functions once per distinct location when
// the profile is built, through [symbolize.Symbolizer] (ELF symbols,
// DWARF with inlined frames, the Go pclntab). The result is a
// github.com/google/pprof/profile.Profile with two values per sample,
// samples/count and <event>/count (<event>/nanoseconds for cpu-clock and
// task-clock), string labels comm and vm, numeric labels pid, tid, cpu
// and vcpu. Lost samples appear under a "[lost samples]" pseudo-function
// and in the comments; kernel addresses under "[kernel]" unless
// /proc/kallsyms is readable.
//
// [Record] drives a Builder from a Stream. A source is adapted by mapping
// its records onto the event types. For the perf_event ring-buffer reader
// of package pmu/perfevent:
//
//	type perfStream struct {
//		r      *perfevent.Reader
//		sample profiler.Sample // reused: Record copies what it keeps
//	}
//
//	func (s *perfStream) Next(ctx context.Context) (profiler.Event, error) {
//		for {
//			rec, err := s.r.ReadRecord(ctx) // io.EOF once the target exited and the rings are drained
//			if err != nil {
//				return nil, err
//			}
//			t := rec.Header().Identity.Time // sample_id_all trailer
//			switch rec := rec.(type) {
//			case *perfevent.SampleRecord:
//				s.sample = profiler.Sample{
//					IP: rec.IP, PID: int(rec.PID), TID: int(rec.TID), CPU: int(rec.CPU), VCPU: -1,
//					Period: rec.Period, Time: rec.Time,
//					Stack: profiler.CallchainStack(s.sample.Stack[:0], rec.IP, rec.Callchain),
//				}
//				return &s.sample, nil
//			case *perfevent.Mmap2Record:
//				return &profiler.MmapEvent{PID: int(rec.PID), TID: int(rec.TID), Time: t, Mapping: profiler.Mapping{
//					Start: rec.Addr, Limit: rec.Addr + rec.Len, Offset: rec.Pgoff,
//					File: rec.Filename, BuildID: hex.EncodeToString(rec.BuildID)}}, nil
//			case *perfevent.MmapRecord: // likewise, without a build ID
//			case *perfevent.CommRecord:
//				return &profiler.CommEvent{PID: int(rec.PID), TID: int(rec.TID), Comm: rec.Comm, Exec: rec.Exec(), Time: t}, nil
//			case *perfevent.ForkRecord:
//				if rec.Header().Type == perfevent.RecordExit {
//					return &profiler.ExitEvent{PID: int(rec.PID), PPID: int(rec.PPID), TID: int(rec.TID), PTID: int(rec.PTID), Time: rec.Time}, nil
//				}
//				return &profiler.ForkEvent{PID: int(rec.PID), PPID: int(rec.PPID), TID: int(rec.TID), PTID: int(rec.PTID), Time: rec.Time}, nil
//			case *perfevent.LostRecord:
//				return &profiler.LostEvent{Count: rec.Lost, Time: t}, nil
//			case *perfevent.LostSamplesRecord:
//				return &profiler.LostEvent{Count: rec.Lost, Time: t}, nil
//			}
//			// THROTTLE and unknown records carry nothing a profile needs.
//		}
//	}
//
// The sampler must be opened with sample_type IP|TID|TIME|CPU|PERIOD|
// CALLCHAIN and with mmap, mmap2, comm, comm_exec, task and
// sample_id_all, so that every record has a timestamp (build_id too, on
// kernels that have it). The reader need not merge its per-CPU rings:
// Record applies records in timestamp order within
// [RecordOptions].Window, so a mapping is known before the samples taken
// in it, and an exec does not rename samples taken before it. For
// processes running before recording began, call [Processes.SetMappings]
// with [ReadProcMaps], or let the Builder read /proc/PID/maps on first
// sight (the default).
//
// The vpmu hypervisor adapts its virtual-PMI log the same way: a Sample
// per virtual overflow with the guest RIP, the frame-pointer walk as
// Stack, guest PID and TID, VCPU and PCPU (as CPU), the VM's name and the
// virtual counter's period; a MmapEvent for each ELF segment it loads into
// the guest (Start and Limit in guest addresses, File the host path,
// Offset the segment's file offset); CommEvent and ForkEvent at exec and
// clone.
package profiler
