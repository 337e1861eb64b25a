package hypervisor

import (
	"errors"

	"github.com/vpmu/vpmu/internal/unix"
)

// sendfile and copy_file_range copy between two files inside the VMM,
// through a bounce buffer, with the files' own Read/Pread and
// Write/Pwrite. Neither reads a pipe (nor the standard input, a pipe to
// the guest): Linux cannot splice_read one. Neither waits: a full pipe
// ends the copy (EAGAIN if nothing was copied).

// copyChunk is the bounce buffer's size.
const copyChunk = 128 << 10

// copySide is one end of a copy: a file, and an offset in guest memory
// (0: use and move the file offset).
type copySide struct {
	f       File
	offAddr uint64
	off     int64
}

func (t *Thread) loadOffset(s *copySide) error {
	if s.offAddr == 0 {
		return nil
	}
	v, err := t.proc.mm.ReadUint64(s.offAddr)
	if err != nil {
		return err
	}
	if s.off = int64(v); s.off < 0 {
		return unix.EINVAL
	}
	return nil
}

// copyFiles copies up to count bytes from in to out and stores the
// offsets it used back.
func (t *Thread) copyFiles(in, out *copySide, count uint64) (uint64, error) {
	if err := t.loadOffset(in); err != nil {
		return 0, err
	}
	if err := t.loadOffset(out); err != nil {
		return 0, err
	}
	count = min(count, maxRWCount)
	buf := make([]byte, min(count, copyChunk))
	var total uint64
	var ioErr error
	for total < count {
		chunk := buf[:min(uint64(len(buf)), count-total)]
		var n int
		var err error
		if in.offAddr != 0 {
			n, err = in.f.Pread(t, hostBuf(chunk), in.off)
		} else {
			n, err = in.f.Read(t, hostBuf(chunk))
		}
		if errors.Is(err, errWouldBlock) {
			err = unix.EAGAIN
		}
		if n == 0 || err != nil {
			ioErr = err
			break
		}
		w, err := t.writeAll(out, chunk[:n])
		total += uint64(w)
		if in.offAddr != 0 {
			in.off += int64(w)
		} else if w < n {
			// Give back what was read and not written. Every input
			// that cannot seek back (/dev/zero, /dev/urandom) loses
			// nothing that matters: pipes are not read here.
			in.f.Seek(int64(w-n), seekCur)
		}
		if err != nil || w < n {
			ioErr = err
			break
		}
	}
	if in.offAddr != 0 {
		if err := t.proc.mm.WriteUint64(in.offAddr, uint64(in.off)); err != nil {
			return 0, err
		}
	}
	if out.offAddr != 0 {
		if err := t.proc.mm.WriteUint64(out.offAddr, uint64(out.off)); err != nil {
			return 0, err
		}
	}
	if total == 0 && ioErr != nil {
		return 0, ioErr
	}
	return total, nil
}

// writeAll writes b to out (at out.off if it has an offset).
func (t *Thread) writeAll(out *copySide, b []byte) (int, error) {
	done := 0
	for done < len(b) {
		var n int
		var err error
		if out.offAddr != 0 {
			n, err = out.f.Pwrite(t, hostBuf(b[done:]), out.off)
			out.off += int64(n)
		} else {
			n, err = out.f.Write(t, hostBuf(b[done:]))
		}
		if errors.Is(err, errWouldBlock) {
			err = unix.EAGAIN
		}
		done += n
		if err != nil || n == 0 {
			return done, err
		}
	}
	return done, nil
}

// sendfile(out_fd, in_fd, offset, count). A pipe to read, or an eventfd
// or epoll instance, is EINVAL (after the checks of the fds), ESPIPE
// with an offset, as in Linux's do_sendfile.
func sysSendfileFn(t *Thread, a SyscallArgs) (uint64, error) {
	in, err := t.proc.fds.get(a.Int(1))
	if err != nil {
		return 0, err
	}
	defer in.decRef()
	if isPipe(in) && in.canRead() && a[2] != 0 {
		return 0, unix.ESPIPE
	}
	out, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	defer out.decRef()
	if hf, ok := in.File.(*hostFile); ok && hf.isDir() {
		return 0, unix.EINVAL
	}
	if isPipe(in) || noSplice(in.File) {
		if !in.canRead() || !out.canWrite() {
			return 0, unix.EBADF
		}
		return 0, unix.EINVAL
	}
	return t.copyFiles(&copySide{f: in.File, offAddr: a[2]}, &copySide{f: out.File}, a[3])
}

// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags): between
// regular files only.
func sysCopyFileRangeFn(t *Thread, a SyscallArgs) (uint64, error) {
	if a.Uint32(5) != 0 {
		return 0, unix.EINVAL
	}
	in, err := t.proc.fds.get(a.Int(0))
	if err != nil {
		return 0, err
	}
	defer in.decRef()
	out, err := t.proc.fds.get(a.Int(2))
	if err != nil {
		return 0, err
	}
	defer out.decRef()
	hin, ok1 := in.File.(*hostFile)
	hout, ok2 := out.File.(*hostFile)
	switch {
	case !ok1 || !ok2 || hin.mode&unix.S_IFMT != unix.S_IFREG || hout.mode&unix.S_IFMT != unix.S_IFREG:
		return 0, unix.EINVAL
	case !hin.readable || !hout.writable:
		return 0, unix.EBADF
	}
	return t.copyFiles(&copySide{f: in.File, offAddr: a[1]}, &copySide{f: out.File, offAddr: a[3]}, a[4])
}
