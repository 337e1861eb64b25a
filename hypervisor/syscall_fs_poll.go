package hypervisor

import (
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// poll, ppoll, select and pselect6 over the readiness of fd_poll.go. A
// call that must wait parks the thread (no goroutine) on the wait queues
// of its files and a timer; the first of them to fire writes the results
// and wakes it.
//
// Signals (fs/select.c): a signal ends the wait with EINTR, whatever
// SA_RESTART says, and so does one already pending when nothing is
// ready. select, ppoll and pselect6 then write the time left to their
// timeout, so that a call restarted after a signal without a handler
// waits only for the rest; poll continues through restart_syscall to
// the same deadline. ppoll and pselect6 replace the thread's mask while
// they run: a handler that interrupts the wait runs with the temporary
// mask and its frame restores the old one; otherwise the old mask is
// back when the call returns.

func init() {
	registerSyscall(sysPoll, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.pollRestartable(a[0], a[1], msDeadline(a.Int(2)))
	})
	registerSyscall(sysPpoll, func(t *Thread, a SyscallArgs) (uint64, error) {
		d, err := t.readDeadline(a[2], false)
		if err != nil {
			return 0, err
		}
		if err := t.pollMask(a[3], a[4]); err != nil {
			return 0, err
		}
		return t.poll(a[0], a[1], d, a[2])
	})
	registerSyscall(sysSelect, func(t *Thread, a SyscallArgs) (uint64, error) {
		d, err := t.readDeadline(a[4], true)
		if err != nil {
			return 0, err
		}
		return t.selectFDs(a.Int(0), [3]uint64{a[1], a[2], a[3]}, d, a[4], true)
	})
	registerSyscall(sysPselect6, func(t *Thread, a SyscallArgs) (uint64, error) {
		// The sixth argument points to { const sigset_t *ss; size_t ss_len; }.
		var pack [16]byte
		if a[5] != 0 {
			if err := t.proc.mm.CopyIn(a[5], pack[:]); err != nil {
				return 0, err
			}
		}
		d, err := t.readDeadline(a[4], false)
		if err != nil {
			return 0, err
		}
		if err := t.pollMask(binary.LittleEndian.Uint64(pack[0:]), binary.LittleEndian.Uint64(pack[8:])); err != nil {
			return 0, err
		}
		return t.selectFDs(a.Int(0), [3]uint64{a[1], a[2], a[3]}, d, a[4], false)
	})
}

// pollMask installs the temporary mask of ppoll or pselect6, read from
// addr (0: none) with the given size (EINVAL unless 8), until the call
// returns (set_user_sigmask).
func (t *Thread) pollMask(addr, size uint64) error {
	if addr == 0 {
		return nil
	}
	mask, err := t.readSigset(addr, size)
	if err != nil {
		return err
	}
	t.setTempMask(mask)
	return nil
}

// pollReturn ends a poll or select that did not wait: the old mask is
// back, unless the call ends for a signal (EINTR after t.sig.waited),
// which delivery handles.
func (t *Thread) pollReturn(ret uint64, err error) (uint64, error) {
	if err != unix.EINTR || !t.sig.waited {
		t.restoreTempMask()
	}
	return ret, err
}

// pollfdSize is sizeof(struct pollfd): int fd; short events, revents.
const pollfdSize = 8

// poll implements poll and ppoll: nfds pollfds at fdsAddr, the timeout
// d, and ppoll's timespec (0 for poll or none).
func (t *Thread) poll(fdsAddr, nfds uint64, d waitDeadline, tsAddr uint64) (uint64, error) {
	if nfds > maxFDs {
		return t.pollReturn(0, unix.EINVAL)
	}
	raw := make([]byte, nfds*pollfdSize)
	if err := t.proc.mm.CopyIn(fdsAddr, raw); err != nil {
		return t.pollReturn(0, err)
	}
	fds := make([]int, nfds)
	events := make([]uint32, nfds)
	for i := range fds {
		fds[i] = int(int32(binary.LittleEndian.Uint32(raw[i*pollfdSize:])))
		events[i] = uint32(binary.LittleEndian.Uint16(raw[i*pollfdSize+4:]))
	}
	report := func(set *pollSet, interrupted bool) (uint64, error) {
		t.writeLeft(tsAddr, d, false)
		if interrupted {
			return 0, unix.EINTR
		}
		n := 0
		for i, e := range set.entries {
			binary.LittleEndian.PutUint16(raw[i*pollfdSize+6:], uint16(e.revents))
			if e.revents != 0 {
				n++
			}
		}
		return uint64(n), t.proc.mm.CopyOut(fdsAddr, raw)
	}
	return t.scanOrWait(t.newPollSet(fds, events, pollAlways), d, report)
}

// pollRestartable is poll(2): interrupted without a handler, it goes on
// through restart_syscall to the same deadline (do_restart_poll).
func (t *Thread) pollRestartable(fdsAddr, nfds uint64, d waitDeadline) (uint64, error) {
	t.sig.restart = func(t *Thread, _ SyscallArgs) (uint64, error) {
		return t.pollRestartable(fdsAddr, nfds, d)
	}
	return t.poll(fdsAddr, nfds, d, 0)
}

// scanOrWait returns the result of a poll or select over set at once
// when a file is ready, the timeout is zero or a signal is pending (EINTR,
// which delivery turns into a restart or EINTR), and otherwise waits.
func (t *Thread) scanOrWait(set *pollSet, d waitDeadline, report pollReport) (uint64, error) {
	n := set.scan()
	if n == 0 && t.signalPending() {
		set.release()
		t.sig.waited = true
		return t.pollReturn(report(set, true))
	}
	if n > 0 || d.poll {
		defer set.release()
		return t.pollReturn(report(set, false))
	}
	return t.waitPoll(set, d.timerAt(), report)
}

// What select's three sets wait for, in poll events.
const (
	selectIn  = pollRdNorm | pollRdBand | pollIn | pollHup | pollErr
	selectOut = pollWrBand | pollWrNorm | pollOut | pollErr
	selectEx  = pollPri
)

// selectFDs implements select and pselect6 with the fd_set pointers
// sets (read, write, except; 0 for none).
func (t *Thread) selectFDs(nfds int, sets [3]uint64, d waitDeadline, tAddr uint64, timeval bool) (uint64, error) {
	if nfds < 0 {
		return t.pollReturn(0, unix.EINVAL)
	}
	nfds = min(nfds, maxFDs)
	size := (nfds + 63) / 64 * 8
	var bits [3][]byte
	for i, addr := range sets {
		bits[i] = make([]byte, size)
		if addr != 0 {
			if err := t.proc.mm.CopyIn(addr, bits[i]); err != nil {
				return t.pollReturn(0, err)
			}
		}
	}
	masks := [3]uint32{selectIn, selectOut, selectEx}
	var fds []int
	var events []uint32
	for fd := 0; fd < nfds; fd++ {
		var ev uint32
		for i := range bits {
			if bits[i][fd/8]&(1<<(fd%8)) != 0 {
				ev |= masks[i]
			}
		}
		if ev == 0 {
			continue
		}
		if _, err := t.proc.fds.cloexec(fd); err != nil {
			return t.pollReturn(0, unix.EBADF)
		}
		fds = append(fds, fd)
		events = append(events, ev)
	}
	report := func(set *pollSet, interrupted bool) (uint64, error) {
		t.writeLeft(tAddr, d, timeval)
		if interrupted {
			return 0, unix.EINTR
		}
		var out [3][]byte
		n := 0
		for i := range out {
			out[i] = make([]byte, size)
		}
		for _, e := range set.entries {
			for i := range out {
				if e.revents&masks[i] != 0 && bits[i][e.fd/8]&(1<<(e.fd%8)) != 0 {
					out[i][e.fd/8] |= 1 << (e.fd % 8)
					n++
				}
			}
		}
		for i, addr := range sets {
			if addr != 0 {
				if err := t.proc.mm.CopyOut(addr, out[i]); err != nil {
					return 0, err
				}
			}
		}
		return uint64(n), nil
	}
	return t.scanOrWait(t.newPollSet(fds, events, 0), d, report)
}
