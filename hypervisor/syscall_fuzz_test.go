package hypervisor

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// newFakeProcess builds a process whose VM has an address space but no
// KVM and no running scheduler, for driving system-call handlers
// directly. It maps 16 pages of read-write memory at the returned
// address.
func newFakeProcess(t testing.TB) (*Thread, uint64) {
	t.Helper()
	cfg, err := Config{Logger: slog.New(slog.DiscardHandler)}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	mm, err := newMM(1<<30, cfg.MemBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	vm := &VM{cfg: cfg, log: cfg.Logger, hooks: cfg.Hooks, m: &machine{mm: mm, xsaveSize: 4096}, unimpl: map[int]bool{}}
	vm.sched = newScheduler(vm, 1)
	p, err := newProcess(vm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stopSignals() // timers a test armed
		p.fds.closeAll()
		mm.close()
	})
	mm.setBrk(0x600000)
	a, err := mm.Mmap(anon(16*pageSize, rw))
	if err != nil {
		t.Fatal(err)
	}
	return p.newThread(threadContext{}), a
}

// settleWait ends the wait a handler just parked th on (interrupting
// it) and waits until its waker is done with the thread's memory, so
// that nothing touches the fake process after the test. A goroutine wait
// (Thread.block) was never started: nothing to do.
func settleWait(t testing.TB, th *Thread) {
	t.Helper()
	if th.pending != nil {
		return
	}
	th.interrupt()
	s := th.proc.vm.sched
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		woken := th.woken
		s.mu.Unlock()
		if woken {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a parked wait did not end when interrupted")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSyscallTable(t *testing.T) {
	n := 0
	for nr, fn := range syscallTable {
		if fn != nil {
			n++
			if syscallNames[nr] == "" {
				t.Errorf("handler for unnamed system call %d", nr)
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d system calls registered", n)
	}
	if got := syscallName(sysNewfstatat); got != "newfstatat" {
		t.Errorf("syscallName(262) = %q", got)
	}
	if got := syscallName(100000); got != "syscall_100000" {
		t.Errorf("syscallName(100000) = %q", got)
	}
}

func TestUnimplementedSyscall(t *testing.T) {
	th, _ := newFakeProcess(t)
	for i := 0; i < 3; i++ {
		if _, err := th.dispatchSyscall(sysAcct, SyscallArgs{}); !errors.Is(err, unix.ENOSYS) {
			t.Fatalf("acct: %v, want ENOSYS", err)
		}
	}
	if _, err := th.dispatchSyscall(1<<40, SyscallArgs{}); !errors.Is(err, unix.ENOSYS) {
		t.Fatalf("huge number: %v, want ENOSYS", err)
	}
	if _, err := th.dispatchSyscall(sysRseq, SyscallArgs{}); !errors.Is(err, unix.ENOSYS) {
		t.Fatalf("rseq: %v, want ENOSYS", err)
	}
	st := th.proc.vm.Stats()
	if len(st.Unimplemented) != 1 || st.Unimplemented[0] != "acct" {
		t.Errorf("reported unimplemented: %v, want acct only (rseq is deliberate, the huge number unknown)", st.Unimplemented)
	}
	if st.UnknownSyscalls != 1 || st.FirstUnknownSyscall != 1<<40 {
		t.Errorf("%d unknown system calls, the first %d; want 1, %d", st.UnknownSyscalls, st.FirstUnknownSyscall, int64(1)<<40)
	}
}

// countingHandler is a slog.Handler that counts the records it gets.
type countingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestUnknownSyscallsBounded makes 20,000 system calls with distinct
// numbers no x86-64 system call has (above the table, in its gaps, and
// negative), twice over, plus two unimplemented ones: the VM keeps one
// tally and one log line for all the unknown numbers, and one entry and
// line per unimplemented call (the guest-level test is
// exporters.TestVMUnknownSyscalls).
func TestUnknownSyscallsBounded(t *testing.T) {
	th, _ := newFakeProcess(t)
	h := &countingHandler{}
	vm := th.proc.vm
	vm.log = slog.New(h)
	var gaps []uint64
	for nr := range syscallNames {
		if syscallNames[nr] == "" {
			gaps = append(gaps, uint64(nr))
		}
	}
	if len(gaps) == 0 {
		t.Fatal("the system call table has no gaps to test")
	}
	const n = 20000
	nrs := append([]uint64{100000, ^uint64(0), uint64(len(syscallNames))}, gaps...)
	for i := uint64(1); len(nrs) < n; i++ {
		nrs = append(nrs, 100000+i)
	}
	for round := 0; round < 2; round++ {
		for _, nr := range nrs {
			if _, err := th.dispatchSyscall(nr, SyscallArgs{}); !errors.Is(err, unix.ENOSYS) {
				t.Fatalf("system call %d: %v, want ENOSYS", nr, err)
			}
		}
		for _, nr := range []uint64{sysAcct, sysIoUringSetup} {
			if _, err := th.dispatchSyscall(nr, SyscallArgs{}); !errors.Is(err, unix.ENOSYS) {
				t.Fatalf("%s: %v, want ENOSYS", syscallName(int(nr)), err)
			}
		}
	}
	st := vm.Stats()
	if st.UnknownSyscalls != 2*n || st.FirstUnknownSyscall != 100000 {
		t.Errorf("%d unknown system calls, the first %d; want %d, 100000", st.UnknownSyscalls, st.FirstUnknownSyscall, 2*n)
	}
	if want := []string{"acct", "io_uring_setup"}; !slices.Equal(st.Unimplemented, want) {
		t.Errorf("unimplemented %q, want %q", st.Unimplemented, want)
	}
	if len(vm.unimpl) != 2 {
		t.Errorf("%d unimplemented entries kept, want 2", len(vm.unimpl))
	}
	var msgs []string
	for _, r := range h.records {
		msgs = append(msgs, r.Message)
	}
	if len(msgs) != 3 {
		t.Errorf("%d log records, want 3 (the first unknown number, acct, io_uring_setup): %q", len(msgs), msgs)
	}
}

func TestDecodeTimespec(t *testing.T) {
	enc := func(sec, nsec int64) []byte { return timespec{sec, nsec}.encode() }
	for _, tc := range []struct {
		b  []byte
		ok bool
	}{
		{enc(1, 5), true},
		{enc(0, 999999999), true},
		{enc(0, 1e9), false},
		{enc(-1, 0), false},
		{enc(0, -1), false},
	} {
		ts, err := decodeTimespec(tc.b)
		if (err == nil) != tc.ok {
			t.Errorf("decodeTimespec(%+v) err = %v, want ok=%v", ts, err, tc.ok)
		}
	}
	if n := (timespec{sec: 1 << 62}).nanos(); n != 1<<63-1 {
		t.Errorf("huge timespec = %d ns, want saturation", n)
	}
}

func TestDecodeClone(t *testing.T) {
	glibc := uint64(cloneVM | cloneFS | cloneFiles | cloneSighand | cloneThread | cloneSysvsem |
		cloneSettls | cloneParentSettid | cloneChildCleartid)
	if _, err := decodeClone(SyscallArgs{glibc}); err != nil {
		t.Errorf("glibc's thread flags refused: %v", err)
	}
	if _, err := decodeClone(SyscallArgs{17 /* SIGCHLD: fork */}); !errors.Is(err, unix.ENOSYS) {
		t.Errorf("fork: %v, want ENOSYS", err)
	}
	if _, err := decodeClone(SyscallArgs{cloneThread | cloneVM}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("CLONE_THREAD without CLONE_SIGHAND: %v, want EINVAL", err)
	}
	if _, err := decodeClone(SyscallArgs{glibc | cloneNewNS}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("thread with CLONE_NEWNS: %v, want EINVAL", err)
	}
}

func FuzzSyscallArgs(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0}, 1, 0x80|9, uint64(0x3d0f00))
	f.Fuzz(func(t *testing.T, b []byte, count, op int, flags uint64) {
		if len(b) >= timespecSize {
			if ts, err := decodeTimespec(b); err == nil && (ts.nsec < 0 || ts.nsec >= 1e9 || ts.sec < 0 || ts.nanos() < 0) {
				t.Fatalf("invalid timespec accepted: %+v", ts)
			}
		}
		if len(b) >= timevalSize {
			if d, err := decodeTimeval(b); err == nil && (d < 0 || d > 1<<62+time.Second) {
				t.Fatalf("invalid timeval accepted: %v", d)
			}
		}
		if iovs, err := decodeIovecs(b, count); err == nil {
			var total uint64
			for _, v := range iovs {
				total += v.len
			}
			if len(iovs) != count || total > 1<<63-1 {
				t.Fatalf("iovecs accepted: %d of %d, total %d", len(iovs), count, total)
			}
		}
		if fo, err := decodeFutexOp(op); err == nil && fo.realtime && fo.cmd != futexWait && fo.cmd != futexWaitBitset {
			t.Fatalf("CLOCK_REALTIME accepted with op %d", fo.cmd)
		}
		if r, err := decodeClone(SyscallArgs{flags}); err == nil && r.flags&cloneThreadFlags != cloneThreadFlags {
			t.Fatalf("clone flags %#x accepted", flags)
		}
	})
}

// FuzzSyscallDispatch drives the registered handlers with arbitrary
// arguments, some pointing into mapped guest memory, on a process without
// KVM: no input may panic the VMM, and the results must be valid system
// call returns.
func FuzzSyscallDispatch(f *testing.F) {
	f.Add(uint16(sysWrite), uint64(1), uint64(1), uint64(16), uint64(0), uint64(0), uint64(0), []byte("hello"))
	f.Add(uint16(sysMmap), uint64(0), uint64(8192), uint64(3), uint64(0x22), uint64(0), uint64(0), []byte{})
	f.Add(uint16(sysFutex), uint64(1), uint64(0x80), uint64(0), uint64(0), uint64(0), uint64(0), []byte{})
	f.Add(uint16(sysOpenat), uint64(0xffffff9c), uint64(1), uint64(0), uint64(0), uint64(0), uint64(0), []byte("/etc/hostname\x00"))
	f.Add(uint16(sysClone), uint64(0x3d0f00), uint64(1), uint64(1), uint64(1), uint64(0), uint64(0), []byte{})
	f.Add(uint16(sysMremap), uint64(1), uint64(4096), uint64(3*4096), uint64(1), uint64(0), uint64(0), []byte("moved"))
	f.Fuzz(func(t *testing.T, nr uint16, a0, a1, a2, a3, a4, a5 uint64, mem []byte) {
		th, base := newFakeProcess(t)
		if len(mem) > 0 {
			th.proc.mm.CopyOut(base, mem[:min(len(mem), 16*pageSize)])
		}
		// Small odd values become pointers into the mapped memory.
		args := SyscallArgs{a0, a1, a2, a3, a4, a5}
		for i, a := range args {
			if a&1 == 1 && a < 2*16*pageSize {
				args[i] = base + a/2
			}
		}
		n := uint64(nr) % uint64(len(syscallTable))
		switch n {
		case sysExit, sysExitGroup:
			return // they end the thread: nothing to check here
		}
		ret, err := th.dispatchSyscall(n, args)
		if errors.Is(err, errBlock) {
			settleWait(t, th)
		}
		switch {
		case err == nil, errors.Is(err, errBlock):
		default:
			var e unix.Errno
			if !errors.As(err, &e) {
				t.Fatalf("%s(%#x): non-errno error %v", syscallName(int(n)), args, err)
			}
			if r := syscallReturn(ret, err, nil); int64(r) >= 0 || int64(r) < -4095 {
				t.Fatalf("%s: error %v encodes as %#x", syscallName(int(n)), err, r)
			}
		}
	})
}
