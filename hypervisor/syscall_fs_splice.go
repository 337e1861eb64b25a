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

// pipeOf returns of's VMM pipe end, or nil if it is not one.
func pipeOf(of *openFile) *pipeEnd {
	p, _ := of.File.(*pipeEnd)
	return p
}

// isPipe reports whether the guest sees of as a pipe (get_pipe_info): a
// VMM pipe's end or a standard stream.
func isPipe(of *openFile) bool {
	switch of.File.(type) {
	case *pipeEnd, *stdinFile, *writerFile:
		return true
	}
	return false
}

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

// spliceSrc is a pipe as splice and tee read it: a VMM pipe (pipeEnd)
// or the standard input (stdinFile).
type spliceSrc interface {
	pollable
	// take calls write, holding the source's lock, with up to max bytes
	// of the data it holds, piece by piece in order while write takes
	// whole pieces; unless peek it then consumes what write took and
	// lets the source's waiters go on. It returns what write took and
	// the error that stopped it; with nothing to take, 0 and
	// errWouldBlock while a writer is left, else 0 and nil (the end).
	// write must not keep the slice, nor raise a signal: a fatal one
	// ends the process's waits, which takes the pipes' locks.
	take(max int, peek bool, write func([]byte) (int, error)) (int, error)
}

// srcOf returns what splice reads from of as a pipe, or nil.
func srcOf(of *openFile) spliceSrc {
	switch f := of.File.(type) {
	case *pipeEnd:
		return f
	case *stdinFile:
		return f
	}
	return nil
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

// fillBufs returns a write function for take that copies into bufs in
// order, each call going on where the last stopped. EFAULT if the first
// buffer it fills is not writable guest memory.
func fillBufs(bufs []guestBuf) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		done := 0
		for done < len(b) && len(bufs) > 0 {
			n, err := bufs[0].fill(func(p []byte) (int, error) { return copy(p, b[done:]), nil })
			done += n
			if err != nil {
				return done, err
			}
			if uint64(n) < bufs[0].n {
				bufs[0] = bufs[0].advance(uint64(n))
				break
			}
			bufs = bufs[1:]
		}
		return done, nil
	}
}

// take makes a VMM pipe a spliceSrc (see there).
func (e *pipeEnd) take(max int, peek bool, write func([]byte) (int, error)) (int, error) {
	p := e.p
	p.mu.Lock()
	if p.count == 0 {
		writers := p.writers
		p.mu.Unlock()
		if writers > 0 {
			return 0, errWouldBlock
		}
		return 0, nil
	}
	n := min(max, p.count)
	done := 0
	var err error
	for done < n {
		i := (p.head + done) % len(p.buf)
		piece := p.buf[i:min(len(p.buf), i+n-done)]
		var w int
		w, err = write(piece)
		done += w
		if err != nil || w < len(piece) {
			break
		}
	}
	var woken []*pipeWaiter
	var events uint32
	if !peek && done > 0 {
		if len(p.buf)-p.count < pipeBuf {
			events = pollOut | pollWrNorm
		}
		p.head = (p.head + done) % len(p.buf)
		if p.count -= done; p.count == 0 {
			p.head = 0
		}
		var more uint32
		woken, more = p.pump()
		events |= more
	}
	p.mu.Unlock()
	p.wake(woken, nil, events)
	return done, err
}

// readFrom calls read, holding mu, with the free space at the ring's
// tail, piece by piece while read fills whole pieces, for up to max
// bytes; it keeps what read put there and lets the readers go on. Before
// calling read: EPIPE without readers, errWouldBlock when full.
func (p *pipe) readFrom(max int, read func([]byte) (int, error)) (int, error) {
	p.mu.Lock()
	if p.readers == 0 {
		p.mu.Unlock()
		return 0, unix.EPIPE
	}
	n := min(max, len(p.buf)-p.count)
	if n == 0 {
		p.mu.Unlock()
		return 0, errWouldBlock
	}
	done := 0
	var err error
	for done < n {
		tail := (p.head + p.count) % len(p.buf)
		end := len(p.buf)
		if tail < p.head {
			end = p.head
		}
		piece := p.buf[tail:min(end, tail+n-done)]
		var r int
		r, err = read(piece)
		done += r
		p.count += r
		if err != nil || r < len(piece) {
			break
		}
	}
	var woken []*pipeWaiter
	var events uint32
	if done > 0 {
		woken, events = p.pump()
		events |= pollIn | pollRdNorm
	}
	p.mu.Unlock()
	p.wake(woken, nil, events)
	return done, err
}

// put copies what fits of b into the ring (readFrom): a pipe as the
// destination of a spliceSrc's take.
func (p *pipe) put(b []byte) (int, error) {
	k := 0
	return p.readFrom(len(b), func(dst []byte) (int, error) {
		c := copy(dst, b[k:])
		k += c
		return c, nil
	})
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
