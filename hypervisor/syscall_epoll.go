package hypervisor

import (
	"context"
	"encoding/binary"

	"github.com/vpmu/vpmu/internal/unix"
)

// epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait,
// epoll_pwait2. The instance is syscall_epoll_file.go.

func init() {
	registerSyscall(sysEpollCreate, func(t *Thread, a SyscallArgs) (uint64, error) {
		if a.Int(0) <= 0 {
			return 0, unix.EINVAL
		}
		return t.epollCreate(0)
	})
	registerSyscall(sysEpollCreate1, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.epollCreate(a.Int(0))
	})
	registerSyscall(sysEpollCtl, sysEpollCtlFn)
	registerSyscall(sysEpollWait, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.epollWait(a.Int(0), a[1], a.Int(2), msDeadline(a.Int(3)), false)
	})
	registerSyscall(sysEpollPwait, func(t *Thread, a SyscallArgs) (uint64, error) {
		return t.epollPwait(a, msDeadline(a.Int(3)))
	})
	registerSyscall(sysEpollPwait2, func(t *Thread, a SyscallArgs) (uint64, error) {
		d, err := t.readDeadline(a[3], false)
		if err != nil {
			return 0, err
		}
		return t.epollPwait(a, d)
	})
}

// epoll_ctl operations and epoll_create1 flags.
const (
	epollCtlAdd  = 1
	epollCtlDel  = 2
	epollCtlMod  = 3
	epollCloexec = unix.O_CLOEXEC
	epMaxEvents  = (1<<31 - 1) / epollEventSize
)

func (t *Thread) epollCreate(flags int) (uint64, error) {
	if flags&^epollCloexec != 0 {
		return 0, unix.EINVAL
	}
	// Open read-write, as F_GETFL shows (anon_inode_getfile).
	fd, err := t.proc.fds.installFlags(newEpollFile(), unix.O_RDWR|flags&epollCloexec)
	return uint64(fd), err
}

func decodeEpollEvent(b []byte) epollEvent {
	return epollEvent{events: binary.LittleEndian.Uint32(b), data: binary.LittleEndian.Uint64(b[4:])}
}

func encodeEpollEvents(evs []epollEvent) []byte {
	b := make([]byte, len(evs)*epollEventSize)
	for i, e := range evs {
		binary.LittleEndian.PutUint32(b[i*epollEventSize:], e.events)
		binary.LittleEndian.PutUint64(b[i*epollEventSize+4:], e.data)
	}
	return b
}

// checkEpollCtl validates an epoll_ctl request the way Linux orders its
// checks after looking up both files: the target must be pollable
// (EPERM), differ from the epoll file, which must be one (EINVAL), and
// EPOLLEXCLUSIVE comes only with EPOLL_CTL_ADD and a few event bits.
func checkEpollCtl(op int, ep, target File, ev epollEvent) (*epollFile, pollable, error) {
	p, ok := target.(pollable)
	if !ok {
		return nil, nil, unix.EPERM
	}
	e, ok := ep.(*epollFile)
	if !ok || ep == target {
		return nil, nil, unix.EINVAL
	}
	if op != epollCtlDel && ev.events&epollExclusive != 0 {
		if op == epollCtlMod || ev.events&^epollExclusiveOK != 0 {
			return nil, nil, unix.EINVAL
		}
	}
	return e, p, nil
}

func sysEpollCtlFn(t *Thread, a SyscallArgs) (uint64, error) {
	epfd, op, fd := a.Int(0), a.Int(1), a.Int(2)
	var ev epollEvent
	if op != epollCtlDel {
		var b [epollEventSize]byte
		if err := t.proc.mm.CopyIn(a[3], b[:]); err != nil {
			return 0, err
		}
		ev = decodeEpollEvent(b[:])
	}
	eof, err := t.proc.fds.get(epfd)
	if err != nil {
		return 0, err
	}
	defer t.proc.fds.put(eof)
	tof, err := t.proc.fds.get(fd)
	if err != nil {
		return 0, err
	}
	defer t.proc.fds.put(tof)
	ep, target, err := checkEpollCtl(op, eof.File, tof.File, ev)
	if err != nil {
		return 0, err
	}
	switch op {
	case epollCtlAdd:
		return 0, ep.add(fd, tof, target, ev)
	case epollCtlMod:
		return 0, ep.modify(fd, tof, ev)
	case epollCtlDel:
		return 0, ep.remove(fd, tof)
	default:
		return 0, unix.EINVAL
	}
}

// epollPwait is epoll_pwait(2) and epoll_pwait2: a mask, if given,
// replaces the thread's mask while it waits (a handler interrupting the
// wait runs with it; otherwise the old mask is back when the call
// returns).
func (t *Thread) epollPwait(a SyscallArgs, d waitDeadline) (uint64, error) {
	if a[4] == 0 {
		return t.epollWait(a.Int(0), a[1], a.Int(2), d, false)
	}
	mask, err := t.readSigset(a[4], a[5])
	if err != nil {
		return 0, err
	}
	t.setTempMask(mask)
	ret, err := t.epollWait(a.Int(0), a[1], a.Int(2), d, true)
	if err != errBlock && err != unix.EINTR {
		t.restoreTempMask()
	}
	return ret, err
}

// epollWait waits for events of epoll fd epfd and writes up to maxev of
// them at evAddr. tempMask says epoll_pwait replaced the mask: a wait
// that ends without EINTR puts it back.
func (t *Thread) epollWait(epfd int, evAddr uint64, maxev int, d waitDeadline, tempMask bool) (uint64, error) {
	if maxev <= 0 || maxev > epMaxEvents {
		return 0, unix.EINVAL
	}
	of, err := t.proc.fds.get(epfd)
	if err != nil {
		return 0, err
	}
	ep, ok := of.File.(*epollFile)
	if !ok {
		t.proc.fds.put(of)
		return 0, unix.EINVAL
	}
	if evs := ep.collect(t, maxev); len(evs) > 0 || d.poll {
		t.proc.fds.put(of)
		return t.writeEpollEvents(evAddr, evs)
	}
	return t.block(func(ctx context.Context) (uint64, error) {
		defer t.proc.fds.put(of)
		evs, err := ep.wait(ctx, t, maxev, d.timerAt())
		if err != nil {
			return 0, err
		}
		if tempMask {
			t.restoreTempMask()
		}
		return t.writeEpollEvents(evAddr, evs)
	})
}

func (t *Thread) writeEpollEvents(addr uint64, evs []epollEvent) (uint64, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	if err := t.proc.mm.CopyOut(addr, encodeEpollEvents(evs)); err != nil {
		return 0, err
	}
	return uint64(len(evs)), nil
}
