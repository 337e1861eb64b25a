package hypervisor

import (
	"context"

	"github.com/vpmu/vpmu/internal/unix"
)

// splice, tee and vmsplice (fs/splice.c) over the VMM's pipes. Data is
// copied, never moved by reference, so SPLICE_F_MOVE and SPLICE_F_GIFT
// are accepted hints. Each call waits as Linux's does: once, before it
// moves anything, for data in the pipe it reads or room in the pipe it
// writes (off the VCPU, on the pipes' wait queues), unless
// SPLICE_F_NONBLOCK or the pipe's O_NONBLOCK says EAGAIN; then it moves
// what it can. A signal ends the wait with EINTR, restarted with
// SA_RESTART. Writing into a pipe without readers raises SIGPIPE and
// fails with EPIPE; reading a pipe without writers returns 0.

func init() {
	registerSyscall(sysSplice, sysSpliceFn)
	registerSyscall(sysTee, sysTeeFn)
	registerSyscall(sysVmsplice, sysVmspliceFn)
}

// splice flags (include/linux/splice.h).
const (
	spliceFNonblock = 0x2
	spliceFAll      = 0xf // MOVE, NONBLOCK, MORE, GIFT
)

// pipeOf returns of's pipe end, or nil if it is not a pipe.
func pipeOf(of *openFile) *pipeEnd {
	p, _ := of.File.(*pipeEnd)
	return p
}

// canRead and canWrite report the open file's access mode (FMODE_READ,
// FMODE_WRITE); an O_PATH fd has neither.
func (o *openFile) canRead() bool {
	fl := o.flags.Load()
	acc := fl & unix.O_ACCMODE
	return fl&unix.O_PATH == 0 && (acc == unix.O_RDONLY || acc == unix.O_RDWR)
}

func (o *openFile) canWrite() bool {
	fl := o.flags.Load()
	acc := fl & unix.O_ACCMODE
	return fl&unix.O_PATH == 0 && (acc == unix.O_WRONLY || acc == unix.O_RDWR)
}

// Readiness a splice waits for: data (or no writer left) in the pipe it
// reads, room for PIPE_BUF bytes (or no reader left) in the pipe it
// writes.
const (
	spliceCanRead  = pollIn | pollHup
	spliceCanWrite = pollOut | pollErr
)

// spliceWait is a condition a splice waits for: end's readiness has one
// of the events.
type spliceWait struct {
	end    *pipeEnd
	events uint32
}

func (w spliceWait) ready() bool { return w.end.readiness()&w.events != 0 }

// spliceThen runs move once every condition holds: at once if they do,
// EAGAIN if they do not and nonblock, else after waiting off the VCPU.
// move returns errWouldBlock if another thread took the data or the room
// meanwhile: the call waits again. The open files of hold are released
// when the call ends (the caller must not release them).
func (t *Thread) spliceThen(conds []spliceWait, nonblock bool, hold []*openFile, move func() (uint64, error)) (uint64, error) {
	release := func() {
		for _, of := range hold {
			of.decRef()
		}
	}
	try := func() (uint64, error) {
		for _, c := range conds {
			if !c.ready() {
				return 0, errWouldBlock
			}
		}
		return move()
	}
	ret, err := try()
	if err != errWouldBlock || nonblock {
		release()
		if err == errWouldBlock {
			err = unix.EAGAIN
		}
		return ret, err
	}
	return t.block(func(ctx context.Context) (uint64, error) {
		defer release()
		for {
			for _, c := range conds {
				if _, err := c.end.p.q.waitFor(ctx, func() (int, error) {
					if c.ready() {
						return 0, nil
					}
					return 0, errWouldBlock
				}); err != nil {
					return 0, err
				}
			}
			if ret, err := try(); err != errWouldBlock {
				return ret, err
			}
		}
	})
}

// splice(fd_in, off_in, fd_out, off_out, len, flags), checked in
// Linux's order.
func sysSpliceFn(t *Thread, a SyscallArgs) (uint64, error) {
	count, flags := min(a[4], maxRWCount), a.Uint32(5)
	if count == 0 {
		return 0, nil
	}
	if flags&^spliceFAll != 0 {
		return 0, unix.EINVAL
	}
	in, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	out, err := t.proc.fds.get(a.Int(2))
	if err != nil {
		in.decRef()
		return 0, err
	}
	hold := []*openFile{in, out}
	fail := func(err error) (uint64, error) {
		in.decRef()
		out.decRef()
		return 0, err
	}
	ip, op := pipeOf(in), pipeOf(out)
	switch {
	case ip != nil && a[1] != 0, op != nil && a[3] != 0:
		return fail(unix.ESPIPE)
	case !in.canRead() || !out.canWrite():
		return fail(unix.EBADF)
	}
	nonblock := flags&spliceFNonblock != 0
	switch {
	case ip != nil && op != nil:
		if ip.p == op.p {
			return fail(unix.EINVAL)
		}
		conds := []spliceWait{{ip, spliceCanRead}, {op, spliceCanWrite}}
		return t.spliceThen(conds, nonblock || in.nonblock() || out.nonblock(), hold, func() (uint64, error) {
			return t.pipeToPipe(ip.p, op.p, count, false)
		})
	case ip != nil:
		if out.flags.Load()&unix.O_APPEND != 0 {
			return fail(unix.EINVAL)
		}
		return t.spliceThen([]spliceWait{{ip, spliceCanRead}}, nonblock || in.nonblock(), hold, func() (uint64, error) {
			n, err := t.copyFiles(&copySide{f: in.File}, &copySide{f: out.File, offAddr: a[3]}, count)
			if n == 0 && err == unix.EAGAIN {
				err = errWouldBlock // emptied meanwhile
			}
			return n, err
		})
	case op != nil:
		return t.spliceThen([]spliceWait{{op, spliceCanWrite}}, nonblock || out.nonblock(), hold, func() (uint64, error) {
			free, readers := op.p.room()
			if free == 0 && readers {
				return 0, errWouldBlock // filled meanwhile
			}
			// Without readers the write fails (SIGPIPE, EPIPE) and the
			// byte read goes back.
			return t.copyFiles(&copySide{f: in.File, offAddr: a[1]}, &copySide{f: out.File}, min(count, uint64(max(free, 1))))
		})
	default:
		return fail(unix.EINVAL)
	}
}

// tee(fd_in, fd_out, len, flags): copies from one pipe to another
// without consuming.
func sysTeeFn(t *Thread, a SyscallArgs) (uint64, error) {
	count, flags := min(a[2], maxRWCount), a.Uint32(3)
	if flags&^spliceFAll != 0 {
		return 0, unix.EINVAL
	}
	if count == 0 {
		return 0, nil
	}
	in, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	out, err := t.proc.fds.get(a.Int(1))
	if err != nil {
		in.decRef()
		return 0, err
	}
	ip, op := pipeOf(in), pipeOf(out)
	err = nil
	switch {
	case !in.canRead() || !out.canWrite():
		err = unix.EBADF
	case ip == nil || op == nil || ip.p == op.p:
		err = unix.EINVAL
	}
	if err != nil {
		in.decRef()
		out.decRef()
		return 0, err
	}
	conds := []spliceWait{{ip, spliceCanRead}, {op, spliceCanWrite}}
	nonblock := flags&spliceFNonblock != 0 || in.nonblock() || out.nonblock()
	return t.spliceThen(conds, nonblock, []*openFile{in, out}, func() (uint64, error) {
		return t.pipeToPipe(ip.p, op.p, count, true)
	})
}

// vmsplice(fd, iov, nr_segs, flags): into a pipe like writev, but
// waiting only for the first room and then moving what fits; out of a
// pipe like readv.
func sysVmspliceFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a.Uint32(3)&^spliceFAll != 0 {
		return 0, unix.EINVAL
	}
	of, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	pe := pipeOf(of)
	if pe == nil {
		of.decRef()
		return 0, unix.EBADF
	}
	bufs, err := t.iovecBufs(a[1], a.Int(2))
	if err != nil {
		of.decRef()
		return 0, err
	}
	nonblock := a.Uint32(3)&spliceFNonblock != 0 || of.nonblock()
	if !pe.write {
		return pe.rw(t, bufs, false, nonblock, of)
	}
	return t.spliceThen([]spliceWait{{pe, spliceCanWrite}}, nonblock, []*openFile{of}, func() (uint64, error) {
		n, err := pe.rw(t, bufs, true, true, nil)
		if err == unix.EAGAIN {
			err = errWouldBlock // filled meanwhile
		}
		return n, err
	})
}

// room returns the free bytes in the ring and whether a reader is left.
func (p *pipe) room() (free int, readers bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf) - p.count, p.readers > 0
}

// pipeToPipe moves (or with tee, copies) up to count bytes from the
// start of in's ring to out's, as much as both allow, and lets both
// pipes' waiters go on. A destination without readers gets the caller
// SIGPIPE and EPIPE.
func (t *Thread) pipeToPipe(in, out *pipe, count uint64, tee bool) (uint64, error) {
	first, second := in, out
	if out.ino < in.ino {
		first, second = out, in
	}
	first.mu.Lock()
	second.mu.Lock()
	if out.readers == 0 {
		second.mu.Unlock()
		first.mu.Unlock()
		t.signalSelf(sigPIPE)
		return 0, unix.EPIPE
	}
	n := int(min(count, uint64(in.count), uint64(len(out.buf)-out.count)))
	if n == 0 && (in.writers > 0 || in.count > 0) {
		// Emptied or filled by another thread meanwhile.
		second.mu.Unlock()
		first.mu.Unlock()
		return 0, errWouldBlock
	}
	tmp := make([]byte, n)
	for k := 0; k < n; {
		i := (in.head + k) % len(in.buf)
		k += copy(tmp[k:], in.buf[i:min(len(in.buf), i+n-k)])
	}
	var inEvents uint32
	if !tee && n > 0 {
		if len(in.buf)-in.count < pipeBuf {
			inEvents = pollOut | pollWrNorm
		}
		in.head = (in.head + n) % len(in.buf)
		if in.count -= n; in.count == 0 {
			in.head = 0
		}
	}
	for k := 0; k < n; {
		tail := (out.head + out.count) % len(out.buf)
		end := len(out.buf)
		if tail < out.head {
			end = out.head
		}
		c := copy(out.buf[tail:end], tmp[k:])
		k += c
		out.count += c
	}
	inWoken, inMore := in.pump()
	outWoken, outMore := out.pump()
	second.mu.Unlock()
	first.mu.Unlock()
	var outEvents uint32
	if n > 0 {
		outEvents = pollIn | pollRdNorm
	}
	in.wake(inWoken, nil, inEvents|inMore)
	out.wake(outWoken, nil, outEvents|outMore)
	return uint64(n), nil
}
