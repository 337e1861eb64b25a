package hypervisor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// Raw guest code for the flush tests, at 0x400000 (loadRawCode). The
// VMM picks the operation in RBX (0 load, 1 store R13) on the address in
// R12; the result comes back in RAX at the system-call exit.
var flushProbeCode = []byte{
	0x48, 0x85, 0xdb, // 0: test %rbx, %rbx
	0x75, 0x06, // 3: jnz 11
	0x49, 0x8b, 0x04, 0x24, // 5: mov (%r12), %rax
	0xeb, 0x04, // 9: jmp 15
	0x4d, 0x89, 0x2c, 0x24, // 11: mov %r13, (%r12)
	0x0f, 0x05, // 15: syscall
	0xeb, 0xed, // 17: jmp 0
}

// flushSpinCode, at 0x400040, increments the word at R12 forever: only
// a fault stops it.
const flushSpinAt = 0x400040

var flushSpinCode = []byte{
	0x49, 0xff, 0x04, 0x24, // incq (%r12)
	0xeb, 0xfa, // jmp back
}

const flushData = 0x600000

// probeResult is what one guest access did.
type probeResult struct {
	fault     bool
	vector    uint64
	errorCode uint64
	cr2, rax  uint64
}

// flushRig is a raw machine with the probe code loaded and one data page.
type flushRig struct {
	t *testing.T
	m *machine
}

func newFlushRig(t *testing.T, nvcpus int) *flushRig {
	m := newTestMachine(t, nvcpus)
	loadRawCode(t, m, m.vcpus[0], flushProbeCode)
	if err := m.mm.poke(flushSpinAt, flushSpinCode); err != nil {
		t.Fatal(err)
	}
	if _, err := m.mm.Mmap(mmapRequest{addr: flushData, length: 4 * pageSize, prot: rw, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED}); err != nil {
		t.Fatal(err)
	}
	return &flushRig{t: t, m: m}
}

// enter sets VCPU v to run at rip in user mode with the given registers.
func (r *flushRig) enter(v *kvm.VCPU, rip uint64, set func(*kvm.Regs)) {
	run := v.RunData()
	stackTop := uint64(0x500000 + (v.ID()+1)*2*pageSize)
	regs := kvm.Regs{RIP: rip, RSP: stackTop, RFLAGS: userRflags}
	set(&regs)
	s, err := v.Sregs()
	if err != nil {
		r.t.Fatal(err)
	}
	userSegments(&s)
	run.Sync.Regs, run.Sync.Sregs = regs, s
	run.DirtyRegs = kvm.SyncRegsGPR | kvm.SyncRegsSregs
}

// result decodes the exit after a run.
func (r *flushRig) result(v *kvm.VCPU, e kvm.Exit) probeResult {
	r.t.Helper()
	if e.Reason != kvm.ExitIO {
		r.t.Fatalf("vcpu %d: exit %+v", v.ID(), e)
	}
	run := v.RunData()
	switch e.IO.Port {
	case portSyscall:
		return probeResult{rax: run.Sync.Regs.RAX}
	case portException:
		ist1, _ := stackTops(v.ID())
		raw, err := r.m.mm.hostBytes(ist1-excFrameSize, excFrameSize)
		if err != nil {
			r.t.Fatal(err)
		}
		f := decodeExcFrame(raw)
		return probeResult{fault: true, vector: f.vector, errorCode: f.errorCode, cr2: run.Sync.Sregs.CR2}
	}
	r.t.Fatalf("vcpu %d: exit to port %#x", v.ID(), e.IO.Port)
	return probeResult{}
}

// access runs one load (store false) or store of val at addr on v.
func (r *flushRig) access(v *kvm.VCPU, addr uint64, store bool, val uint64) probeResult {
	r.t.Helper()
	r.enter(v, 0x400000, func(g *kvm.Regs) {
		g.R12, g.R13 = addr, val
		if store {
			g.RBX = 1
		}
	})
	return r.result(v, runUntilExit(r.t, v))
}

// setLeaf rewrites the leaf PTE of gva from the host side.
func (r *flushRig) setLeaf(gva uint64, f func(old uint64) uint64) {
	slot := r.m.mm.pt.leafSlot(gva)
	if slot == nil {
		r.t.Fatalf("no leaf for %#x", gva)
	}
	binary.LittleEndian.PutUint64(slot, f(binary.LittleEndian.Uint64(slot)))
}

// hostData returns the host view of the data page at gva.
func (r *flushRig) hostData(gva uint64) []byte {
	b, err := r.m.mm.hostBytes(gva, pageSize)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// spin runs the increment loop on v at addr in a goroutine until it
// exits; the channel receives the result, or a zero result with fault
// false if stop was closed first.
func (r *flushRig) spin(v *kvm.VCPU, addr uint64, stop <-chan struct{}) <-chan probeResult {
	out := make(chan probeResult, 1)
	r.enter(v, flushSpinAt, func(g *kvm.Regs) { g.R12 = addr })
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		var stopped atomic.Bool
		go func() {
			<-stop
			stopped.Store(true)
			v.RequestImmediateExit(true)
			unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
		}()
		for {
			err := v.Run()
			if err == kvm.ErrInterrupted {
				if stopped.Load() {
					v.RequestImmediateExit(false)
					out <- probeResult{}
					return
				}
				continue
			}
			if err != nil {
				out <- probeResult{}
				return
			}
			run := v.RunData()
			e := kvm.DecodeExit(kvm.ExitReason(run.ExitReason), &run.ExitData)
			if e.Reason == kvm.ExitIO && e.IO.Port == portException {
				ist1, _ := stackTops(v.ID())
				raw, _ := r.m.mm.hostBytes(ist1-excFrameSize, excFrameSize)
				f := decodeExcFrame(raw)
				out <- probeResult{fault: true, vector: f.vector, errorCode: f.errorCode, cr2: run.Sync.Sregs.CR2}
				return
			}
			out <- probeResult{vector: ^uint64(0)}
			return
		}
	}()
	return out
}

// waitSpinning waits until the spinning VCPU has incremented the word at
// gva a few times, so that its translation is cached.
func (r *flushRig) waitSpinning(gva uint64) {
	r.t.Helper()
	w := r.hostData(gva)
	deadline := time.Now().Add(10 * time.Second)
	for binary.LittleEndian.Uint64(w) < 1000 {
		if time.Now().After(deadline) {
			r.t.Fatal("the spinning VCPU never ran")
		}
		time.Sleep(time.Millisecond)
	}
}

// invalidateHost fires KVM's MMU notifier on the host pages behind
// [gva, gva+n pages) without losing their data, the way the MM does.
func (r *flushRig) invalidateHost(gva, n uint64) {
	r.t.Helper()
	gpa, _, ok := r.m.mm.binds.lookup(gva)
	if !ok {
		r.t.Fatalf("%#x not bound", gva)
	}
	if err := r.m.mm.phys.invalidate(gpa, n); err != nil {
		r.t.Fatal(err)
	}
}

// TestPTEFlushExperiment checks the claim the MM's protection changes
// rest on: after the VMM rewrites a present leaf PTE from the host side,
// firing KVM's MMU notifier on the host pages the PTE points to makes
// every VCPU walk the guest page tables again, so that the new PTE
// takes effect (docs/hypervisor.md, "Changing a present PTE").
//
// Both ways of firing the notifier are measured: adding PROT_EXEC to the
// host view and taking it away again (the default), and the fallback
// that flips the view to PROT_READ and back.
func TestPTEFlushExperiment(t *testing.T) {
	for _, readFlip := range []bool{false, true} {
		name := "exec-flip"
		if readFlip {
			name = "read-flip"
		}
		t.Run(name, func(t *testing.T) { flushExperiment(t, readFlip) })
	}
}

func flushExperiment(t *testing.T, readFlip bool) {
	r := newFlushRig(t, 2)
	r.m.mm.phys.readFlip = readFlip
	v0, v1 := r.m.vcpus[0], r.m.vcpus[1]
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	page := uint64(flushData)

	// Warm up: store and load through the PTE on VCPU 0.
	if p := r.access(v0, page, true, 0x1234); p.fault {
		t.Fatalf("first store faulted: %+v", p)
	}
	if p := r.access(v0, page, false, 0); p.fault || p.rax != 0x1234 {
		t.Fatalf("first load: %+v", p)
	}

	// Without a notifier the old translation survives (KVM-NOTES).
	r.setLeaf(page, func(old uint64) uint64 { return old &^ pteWrite })
	p := r.access(v0, page, true, 0x5678)
	t.Logf("W cleared, no notifier: store faulted=%v (stale translation if false)", p.fault)
	r.setLeaf(page, func(old uint64) uint64 { return old | pteWrite })
	r.invalidateHost(page, 1)
	binary.LittleEndian.PutUint64(r.hostData(page), 0x1234)

	t.Run("write-protect", func(t *testing.T) {
		r.t = t
		r.setLeaf(page, func(old uint64) uint64 { return old &^ pteWrite })
		r.invalidateHost(page, 1)
		if p := r.access(v0, page, true, 0x9999); !p.fault || p.vector != vecPF || p.cr2 != page || p.errorCode&7 != 7 {
			t.Errorf("store after W cleared: %+v, want #PF at %#x with error code P|W|U", p, page)
		}
		if p := r.access(v0, page, false, 0); p.fault || p.rax != 0x1234 {
			t.Errorf("load after W cleared: %+v, want 0x1234", p)
		}
		r.setLeaf(page, func(old uint64) uint64 { return old | pteWrite })
		r.invalidateHost(page, 1)
		if p := r.access(v0, page, true, 0x4321); p.fault {
			t.Errorf("store after W restored: %+v", p)
		}
		if got := binary.LittleEndian.Uint64(r.hostData(page)); got != 0x4321 {
			t.Errorf("host sees %#x after the store, want 0x4321", got)
		}
	})
	t.Run("clear", func(t *testing.T) {
		r.t = t
		var saved uint64
		r.setLeaf(page, func(old uint64) uint64 { saved = old; return 0 })
		r.invalidateHost(page, 1)
		if p := r.access(v0, page, false, 0); !p.fault || p.vector != vecPF || p.cr2 != page || p.errorCode&1 != 0 {
			t.Errorf("load after PTE cleared: %+v, want a not-present #PF at %#x", p, page)
		}
		r.setLeaf(page, func(uint64) uint64 { return saved })
		if p := r.access(v0, page, false, 0); p.fault || p.rax != 0x4321 {
			t.Errorf("load after PTE restored: %+v, want 0x4321", p)
		}
	})
	// The other VCPU runs while the PTE changes: the notifier's remote
	// TLB flush must reach it.
	for _, tc := range []struct {
		name  string
		leaf  func(uint64) uint64
		errPW uint64
	}{
		{"remote write-protect", func(old uint64) uint64 { return old &^ pteWrite }, 7},
		{"remote clear", func(uint64) uint64 { return 0 }, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			target := page + pageSize
			binary.LittleEndian.PutUint64(r.hostData(target), 0)
			if p := r.access(v0, target, true, 0); p.fault {
				t.Fatalf("warm-up store: %+v", p)
			}
			stop := make(chan struct{})
			res := r.spin(v1, target, stop)
			r.waitSpinning(target)
			var saved uint64
			r.setLeaf(target, func(old uint64) uint64 { saved = old; return tc.leaf(old) })
			r.invalidateHost(target, 1)
			timer := time.AfterFunc(10*time.Second, func() { close(stop) })
			p := <-res
			timer.Stop()
			if !p.fault || p.vector != vecPF || p.cr2 != target || p.errorCode&7 != tc.errPW {
				t.Errorf("spinning VCPU after the change: %+v, want #PF at %#x with error code %#x", p, target, tc.errPW)
			}
			before := binary.LittleEndian.Uint64(r.hostData(target))
			if p := r.access(v0, target, false, 0); tc.errPW == 7 && (p.fault || p.rax != before) {
				t.Errorf("load on VCPU 0 after write-protect: %+v, want %d", p, before)
			}
			r.setLeaf(target, func(uint64) uint64 { return saved })
			r.invalidateHost(target, 1)
		})
	}
}

// BenchmarkHostInvalidate measures firing the MMU notifier over a range
// of touched guest pages.
func BenchmarkHostInvalidate(b *testing.B) {
	for _, n := range []uint64{1, 16, 256} {
		b.Run(pagesName(n), func(b *testing.B) {
			p, err := newPhysMem(1<<30, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.close()
			gpa, _ := p.alloc(n)
			buf := p.bytes(gpa, n*pageSize)
			for i := range n {
				buf[i*pageSize] = 1
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.invalidate(gpa, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func pagesName(n uint64) string { return fmt.Sprintf("%dpages", n) }

// TestHostFlipWindow measures what a VCPU that keeps writing a page sees
// while the VMM fires the notifier on it over and over: with the
// PROT_EXEC flip nothing; with the PROT_READ flip KVM_RUN may fail with
// EFAULT while the page is read-only on the host (the VCPU loop retries
// those, see MM.flipRaced). The guest's writes must all land either way.
func TestHostFlipWindow(t *testing.T) {
	for _, readFlip := range []bool{false, true} {
		r := newFlushRig(t, 2)
		r.m.mm.phys.readFlip = readFlip
		v := r.m.vcpus[1]
		target := uint64(flushData)
		r.enter(v, flushSpinAt, func(g *kvm.Regs) { g.R12 = target })
		var efaults, stopped atomic.Int64
		done := make(chan error, 1)
		tids := make(chan int, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			for {
				err := v.Run()
				switch {
				case err == kvm.ErrInterrupted && stopped.Load() != 0:
					v.RequestImmediateExit(false)
					done <- nil
					return
				case err == kvm.ErrInterrupted:
				case errors.Is(err, unix.EFAULT):
					efaults.Add(1)
				case err != nil:
					done <- err
					return
				default:
					done <- fmt.Errorf("unexpected exit %d", v.RunData().ExitReason)
					return
				}
			}
		}()
		tid := <-tids
		r.waitSpinning(target)
		gpa, _, _ := r.m.mm.binds.lookup(target)
		const flips = 2000
		for range flips {
			if err := r.m.mm.phys.invalidate(gpa, 1); err != nil {
				t.Fatal(err)
			}
		}
		stopped.Store(1)
		v.RequestImmediateExit(true)
		unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
		if err := <-done; err != nil {
			t.Fatalf("readFlip %v: %v", readFlip, err)
		}
		t.Logf("readFlip %v: %d flips, %d KVM_RUN EFAULTs, counter %d", readFlip, flips, efaults.Load(),
			binary.LittleEndian.Uint64(r.hostData(target)))
		if !readFlip && efaults.Load() != 0 {
			t.Errorf("the PROT_EXEC flip made KVM_RUN fail with EFAULT %d times", efaults.Load())
		}
	}
}
