package hypervisor

import "github.com/vpmu/vpmu/internal/unix"

// The pipes' side of splice, tee and vmsplice (syscall_fs_splice.go):
// which open files are pipes to the guest, and the moves in and out of a
// VMM pipe's ring under its lock.

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
		events = p.consume(done)
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
		piece := p.tailRoom()
		piece = piece[:min(len(piece), n-done)]
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
		inEvents = in.consume(n)
	}
	for k := 0; k < n; {
		c := copy(out.tailRoom(), tmp[k:])
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
