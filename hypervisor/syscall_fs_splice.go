package hypervisor

import (
	"context"

	"github.com/vpmu/vpmu/internal/unix"
)

// splice, tee and vmsplice (fs/splice.c) over the VMM's pipes and the
// standard streams, which are pipes to the guest (fd_stdio.go): the
// standard input a read end, the standard output and error write ends
// that always have room. Data is copied, never moved by reference, so
// SPLICE_F_MOVE and SPLICE_F_GIFT are accepted hints. Each call waits as
// Linux's does: once, before it moves anything, for data in the pipe it
// reads or room in the pipe it writes (off the VCPU, on the files' wait
// queues), unless SPLICE_F_NONBLOCK or the pipe's O_NONBLOCK says EAGAIN
// (vmsplice heeds SPLICE_F_NONBLOCK only); then it moves what it can.
// As under Linux's pipe_lock, a call holds the lock of the pipe it reads
// while it writes what it takes, and the lock of the pipe it fills
// while it reads what goes in: a short write leaves the rest in the
// pipe, and a pipe that other writers fill meanwhile costs no data. A
// signal ends the wait with EINTR, restarted with SA_RESTART. Writing
// into a pipe without readers raises SIGPIPE (once no lock is held) and
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

// noSplice reports whether f is a file Linux cannot splice from or to
// (its file operations have no splice_read and splice_write: EINVAL):
// an eventfd or an epoll instance.
func noSplice(f File) bool {
	switch f.(type) {
	case *eventFile, *epollFile:
		return true
	}
	return false
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

// spliceWait is a condition a splice waits for: f's readiness has one
// of the events.
type spliceWait struct {
	f      pollable
	events uint32
}

func (w spliceWait) ready() bool { return w.f.readiness()&w.events != 0 }

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
				if _, err := c.f.waitQueue().waitFor(ctx, func() (int, error) {
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
	inPipe, outPipe := isPipe(in), isPipe(out)
	switch {
	case inPipe && a[1] != 0, outPipe && a[3] != 0:
		return fail(unix.ESPIPE)
	case !in.canRead() || !out.canWrite():
		return fail(unix.EBADF)
	}
	nonblock := flags&spliceFNonblock != 0
	switch {
	case inPipe && outPipe:
		return t.splicePipes(in, out, count, nonblock, false)
	case inPipe:
		src := srcOf(in)
		if src == nil || out.flags.Load()&unix.O_APPEND != 0 || noSplice(out.File) {
			return fail(unix.EINVAL)
		}
		side := &copySide{f: out.File, offAddr: a[3]}
		return t.spliceThen([]spliceWait{{src, spliceCanRead}}, nonblock || in.nonblock(), hold, func() (uint64, error) {
			return t.pipeToFile(src, side, count)
		})
	case outPipe:
		if noSplice(in.File) {
			return fail(unix.EINVAL)
		}
		side := &copySide{f: in.File, offAddr: a[1]}
		if op := pipeOf(out); op != nil {
			return t.spliceThen([]spliceWait{{op, spliceCanWrite}}, nonblock || out.nonblock(), hold, func() (uint64, error) {
				return t.fileToPipe(side, op.p, count)
			})
		}
		if _, ok := out.File.(*writerFile); !ok {
			return fail(unix.EINVAL)
		}
		// The standard output or error: always room, a write waits in
		// the host's writer. At most what a pipe holds.
		n, err := t.copyFiles(side, &copySide{f: out.File}, min(count, pipeDefaultSize))
		in.decRef()
		out.decRef()
		return n, err
	default:
		return fail(unix.EINVAL)
	}
}

// splicePipes moves (with tee, copies) up to count bytes from the pipe
// in to the pipe out (splice_pipe_to_pipe, link_pipe): EINVAL for a pipe
// to itself. It takes over the references on in and out.
func (t *Thread) splicePipes(in, out *openFile, count uint64, nonblock, tee bool) (uint64, error) {
	hold := []*openFile{in, out}
	src := srcOf(in)
	ip, op := pipeOf(in), pipeOf(out)
	var write func([]byte) (int, error)
	switch f := out.File.(type) {
	case *pipeEnd:
		write = f.p.put
	case *writerFile:
		write = func(b []byte) (int, error) { return f.write(hostBuf(b)) }
	}
	if src == nil || write == nil || ip != nil && op != nil && ip.p == op.p {
		in.decRef()
		out.decRef()
		return 0, unix.EINVAL
	}
	conds := []spliceWait{{src, spliceCanRead}}
	if op != nil {
		conds = append(conds, spliceWait{op, spliceCanWrite})
	}
	nonblock = nonblock || in.nonblock() || out.nonblock()
	return t.spliceThen(conds, nonblock, hold, func() (uint64, error) {
		if ip != nil && op != nil {
			return t.pipeToPipe(ip.p, op.p, count, tee)
		}
		n, err := src.take(int(count), tee, write)
		return t.spliceResult(n, err)
	})
}

// spliceResult is the result of a call that moved n bytes and stopped
// on err: n if it is not 0, else err. EPIPE raises SIGPIPE; the caller
// holds no lock.
func (t *Thread) spliceResult(n int, err error) (uint64, error) {
	if err == unix.EPIPE {
		t.signalSelf(sigPIPE)
	}
	if n > 0 {
		return uint64(n), nil
	}
	return 0, err
}

// pipeToFile writes up to count bytes from src to out (at its offset if
// it has one), holding src's lock, and consumes what was written: a
// short write leaves the rest in the pipe.
func (t *Thread) pipeToFile(src spliceSrc, out *copySide, count uint64) (uint64, error) {
	if err := t.loadOffset(out); err != nil {
		return 0, err
	}
	n, err := src.take(int(count), false, func(b []byte) (int, error) { return t.writeAll(out, b) })
	if out.offAddr != 0 && n > 0 {
		if err := t.proc.mm.WriteUint64(out.offAddr, uint64(out.off)); err != nil {
			return 0, err
		}
	}
	return t.spliceResult(n, err)
}

// fileToPipe reads up to count bytes from in (at its offset if it has
// one) straight into p's ring, holding p's lock: only what fits is read,
// however other writers fill the pipe meanwhile. Without readers it
// raises SIGPIPE and fails with EPIPE before reading; errWouldBlock if
// the pipe is full.
func (t *Thread) fileToPipe(in *copySide, p *pipe, count uint64) (uint64, error) {
	if err := t.loadOffset(in); err != nil {
		return 0, err
	}
	n, err := p.readFrom(int(count), func(b []byte) (int, error) {
		var n int
		var err error
		if in.offAddr != 0 {
			n, err = in.f.Pread(t, hostBuf(b), in.off)
			in.off += int64(n)
		} else {
			n, err = in.f.Read(t, hostBuf(b))
		}
		if err == errWouldBlock {
			err = unix.EAGAIN // the pipe's errWouldBlock means full
		}
		return n, err
	})
	if in.offAddr != 0 && n > 0 {
		if err := t.proc.mm.WriteUint64(in.offAddr, uint64(in.off)); err != nil {
			return 0, err
		}
	}
	return t.spliceResult(n, err)
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
	err = nil
	switch {
	case !in.canRead() || !out.canWrite():
		err = unix.EBADF
	case !isPipe(in) || !isPipe(out):
		err = unix.EINVAL
	}
	if err != nil {
		in.decRef()
		out.decRef()
		return 0, err
	}
	return t.splicePipes(in, out, count, flags&spliceFNonblock != 0, true)
}

// vmsplice(fd, iov, nr_segs, flags): into a pipe like writev, but
// waiting only for the first room and then moving what fits; out of a
// pipe like readv. Only SPLICE_F_NONBLOCK makes it fail with EAGAIN
// instead of waiting: Linux ignores the fd's O_NONBLOCK here.
func sysVmspliceFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a.Uint32(3)&^spliceFAll != 0 {
		return 0, unix.EINVAL
	}
	of, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	if !isPipe(of) {
		of.decRef()
		return 0, unix.EBADF
	}
	bufs, err := t.iovecBufs(a[1], a.Int(2))
	if err != nil {
		of.decRef()
		return 0, err
	}
	nonblock := a.Uint32(3)&spliceFNonblock != 0
	switch f := of.File.(type) {
	case *pipeEnd:
		if !f.write {
			return f.rw(t, bufs, false, nonblock, of)
		}
		return t.spliceThen([]spliceWait{{f, spliceCanWrite}}, nonblock, []*openFile{of}, func() (uint64, error) {
			n, err := f.rw(t, bufs, true, true, nil)
			if err == unix.EAGAIN {
				err = errWouldBlock // filled meanwhile
			}
			return n, err
		})
	case *stdinFile:
		var total uint64
		for _, b := range bufs {
			total += b.n
		}
		if total == 0 {
			of.decRef()
			return 0, nil
		}
		return t.spliceThen([]spliceWait{{f, spliceCanRead}}, nonblock, []*openFile{of}, func() (uint64, error) {
			n, err := f.take(int(total), false, fillBufs(bufs))
			return t.spliceResult(n, err)
		})
	default:
		// The standard output or error, like writev.
		defer of.decRef()
		var total uint64
		for _, b := range bufs {
			n, err := of.Write(t, b)
			total += uint64(n)
			if err != nil {
				if total > 0 {
					return total, nil
				}
				return 0, err
			}
		}
		return total, nil
	}
}
