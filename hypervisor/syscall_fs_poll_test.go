package hypervisor

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// TestPollInterruptKeepsDeadline parks poll, ppoll, select and pselect6
// on an empty pipe with a 100 s timeout, lets some time pass, interrupts
// them as a signal without a handler would, and restarts them as
// delivery does: the restarted wait must end when the first one would
// have (the time left, never the whole timeout again), through
// restart_syscall for poll and through the timeout the others rewrote.
// The only slack allowed is the time between the interrupt and the
// restart, which the pause before the interrupt exceeds by far.
func TestPollInterruptKeepsDeadline(t *testing.T) {
	const timeoutSec = 100
	for _, tc := range []struct {
		name string
		nr   uint64
		// args builds the call's arguments in guest memory at base for
		// the read end r.
		args func(th *Thread, base uint64, r int) SyscallArgs
		// timeout is where the call's timeout is (0: none to check).
		timeout uint64
		timeval bool
		restart uint64 // what delivery turns the call into
	}{
		{"poll", sysPoll, func(th *Thread, base uint64, r int) SyscallArgs {
			writePollfd(th, base, r)
			return SyscallArgs{base, 1, timeoutSec * 1000}
		}, 0, false, sysRestartSyscall},
		{"ppoll", sysPpoll, func(th *Thread, base uint64, r int) SyscallArgs {
			writePollfd(th, base, r)
			writeTimeout(th, base+64, timeoutSec)
			return SyscallArgs{base, 1, base + 64, 0, 8}
		}, 64, false, sysPpoll},
		{"select", sysSelect, func(th *Thread, base uint64, r int) SyscallArgs {
			th.proc.mm.WriteUint64(base, 1<<r)
			writeTimeout(th, base+64, timeoutSec)
			return SyscallArgs{uint64(r + 1), base, 0, 0, base + 64}
		}, 64, true, sysSelect},
		{"pselect6", sysPselect6, func(th *Thread, base uint64, r int) SyscallArgs {
			th.proc.mm.WriteUint64(base, 1<<r)
			writeTimeout(th, base+64, timeoutSec)
			return SyscallArgs{uint64(r + 1), base, 0, 0, base + 64, 0}
		}, 64, false, sysPselect6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th, base := newFakeProcess(t)
			if _, err := th.dispatchSyscall(sysPipe2, SyscallArgs{base + 1024, 0}); err != nil {
				t.Fatal(err)
			}
			r, _ := th.proc.mm.ReadUint32(base + 1024)
			args := tc.args(th, base, int(r))
			first := parkPoll(t, th, tc.nr, args)
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			interruptPoll(t, th, tc.nr)

			// A signal without a handler: EINTR becomes a restart.
			th.ctx.regs = kvm.Regs{RIP: 0x1002, RAX: errnoReturn(unix.EINTR)}
			th.sig.inSyscall, th.sig.sysNr, th.sig.waited = true, tc.nr, true
			th.handleSignals(nil)
			if th.ctx.regs.RAX != tc.restart || th.ctx.regs.RIP != 0x1000 {
				t.Fatalf("after the interrupt: rax %d rip %#x, want a restart as %s", th.ctx.regs.RAX,
					th.ctx.regs.RIP, syscallName(int(tc.restart)))
			}
			if tc.timeout != 0 {
				var b [16]byte
				th.proc.mm.CopyIn(base+tc.timeout, b[:])
				left := time.Duration(binary.LittleEndian.Uint64(b[:]))*time.Second +
					time.Duration(binary.LittleEndian.Uint64(b[8:]))
				if tc.timeval {
					left = time.Duration(binary.LittleEndian.Uint64(b[:]))*time.Second +
						time.Duration(binary.LittleEndian.Uint64(b[8:]))*time.Microsecond
				}
				if left >= timeoutSec*time.Second || left <= 0 {
					t.Errorf("time left written to the timeout: %v, want less than %d s", left, timeoutSec)
				}
			}
			s := th.proc.vm.sched
			s.mu.Lock()
			th.woken = false
			s.mu.Unlock()
			second := parkPoll(t, th, tc.restart, args)
			slack := time.Since(start)
			interruptPoll(t, th, tc.restart)
			if late := second.deadline.Sub(first.deadline); late > slack {
				t.Errorf("the restarted wait ends %v after the first one would have (slack %v)", late, slack)
			}
		})
	}
}

// parkPoll issues a poll-family call that must wait, checks that it
// parked and returns its waiter.
func parkPoll(t *testing.T, th *Thread, nr uint64, args SyscallArgs) *pollWaiter {
	t.Helper()
	if _, err := th.dispatchSyscall(nr, args); !errors.Is(err, errBlock) {
		t.Fatalf("%s did not wait: %v", syscallName(int(nr)), err)
	}
	th.mu.Lock()
	w, ok := th.waiter.(*pollWaiter)
	th.mu.Unlock()
	if !ok {
		t.Fatalf("%s parked on %T", syscallName(int(nr)), th.waiter)
	}
	return w
}

// interruptPoll interrupts the wait of parkPoll and checks that it ends
// with EINTR.
func interruptPoll(t *testing.T, th *Thread, nr uint64) {
	t.Helper()
	settleWait(t, th)
	if !errors.Is(th.wokenErr, unix.EINTR) {
		t.Fatalf("interrupted %s: %v, want EINTR", syscallName(int(nr)), th.wokenErr)
	}
}

func writePollfd(th *Thread, addr uint64, fd int) {
	var b [pollfdSize]byte
	binary.LittleEndian.PutUint32(b[:], uint32(fd))
	binary.LittleEndian.PutUint16(b[4:], pollIn)
	th.proc.mm.CopyOut(addr, b[:])
}

func writeTimeout(th *Thread, addr uint64, sec uint64) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], sec)
	th.proc.mm.CopyOut(addr, b[:])
}
