package hypervisor

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// spliceStdin is what TestSplicePrograms feeds testdata/splice.c on its
// standard input: one write natively, one read of the io.Reader in the
// VM.
const spliceStdin = "hello\nworld\nvmsplice\n"

// runSpliceNative runs prog natively with spliceStdin on a pipe as its
// standard input and a pipe as its standard output, as the VM shows
// them.
func runSpliceNative(t *testing.T, prog string, args ...string) programRun {
	t.Helper()
	var stdout bytes.Buffer
	return runNativeIO(t, os.Environ(), strings.NewReader(spliceStdin), &stdout, prog, args...)
}

// runSpliceVM runs prog in a VM with vcpus VCPUs, spliceStdin as its
// standard input and dir writable.
func runSpliceVM(t *testing.T, vcpus int, dir, prog string, args ...string) programRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cfg := Config{VCPUs: vcpus, RWDirs: []string{dir}, Stdin: strings.NewReader(spliceStdin), Stdout: &stdout, Stderr: &stderr}
	st, stats, err := runVM(t, cfg, prog, args...)
	return programRun{stdout: stdout.String(), stderr: stderr.String(), status: st.Int(), err: err, stats: stats}
}

// TestSplicePrograms runs testdata/splice.c in every mode natively and
// in the VM on one and two VCPUs: same output, status 0. It covers the
// standard input and output as the pipes they are to the guest (splice,
// tee and vmsplice from and into them wait as for a pipe; sendfile from
// a pipe fails), vmsplice ignoring the fd's O_NONBLOCK, and writers
// waiting on a full pipe woken by F_SETPIPE_SZ, eventfd and epoll files,
// which Linux cannot splice, and the standard streams' pipe capacity.
func TestSplicePrograms(t *testing.T) {
	prog := buildC(t, "splice", "-pthread")
	for _, mode := range []string{"stdin", "stdout", "vmsplice", "resize", "nosplice", "stdiosize"} {
		t.Run(mode, func(t *testing.T) {
			native := runSpliceNative(t, prog, mode, t.TempDir())
			if native.status != 0 {
				t.Fatalf("native run: status %d\n%s%s", native.status, native.stdout, native.stderr)
			}
			for _, vcpus := range []int{1, 2} {
				dir := t.TempDir()
				r := runSpliceVM(t, vcpus, dir, prog, mode, dir)
				if r.status != native.status || r.stdout != native.stdout {
					t.Errorf("%d VCPUs: status %d err %v, stdout:\n%s\nnative stdout:\n%s\ndiff:\n%s\nstderr: %s",
						vcpus, r.status, r.err, r.stdout, native.stdout, lineDiff(r.stdout, native.stdout), r.stderr)
				}
				if len(r.stats.Unimplemented) != 0 {
					t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
				}
			}
		})
	}
}

// shortFile is a write-only file that takes at most room bytes in all,
// then fails with ENOSPC, like a file on a filesystem that fills up.
type shortFile struct {
	fileBase
	room int
	got  []byte
}

func (f *shortFile) Stat() (unix.Stat_t, error) { return unix.Stat_t{Mode: unix.S_IFREG | 0o600}, nil }

func (f *shortFile) Write(_ *Thread, src guestBuf) (int, error) {
	if f.room == 0 {
		return 0, unix.ENOSPC
	}
	return src.drain(func(p []byte) (int, error) {
		n := min(len(p), f.room)
		f.got = append(f.got, p[:n]...)
		f.room -= n
		return n, nil
	})
}

// spliceFixture is a fake process with a VMM pipe at fds rfd and wfd.
func spliceFixture(t *testing.T) (th *Thread, p *pipe, rfd, wfd int) {
	t.Helper()
	th, _ = newFakeProcess(t)
	r, w := newPipe()
	rfd, err := th.proc.fds.installFlags(r, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	wfd, err = th.proc.fds.installFlags(w, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	return th, r.p, rfd, wfd
}

// pipeContents reads what the pipe holds, without waiting.
func pipeContents(t *testing.T, th *Thread, rfd int) []byte {
	t.Helper()
	of, err := th.proc.fds.get(rfd)
	if err != nil {
		t.Fatal(err)
	}
	defer of.decRef()
	buf := make([]byte, 1<<20)
	n, err := of.Read(th, hostBuf(buf))
	if err != nil && err != unix.EAGAIN {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestSpliceShortWrite splices a pipe into a file that takes only part
// of the data: the rest stays in the pipe, as Linux leaves what
// splice_from_pipe did not write.
func TestSpliceShortWrite(t *testing.T) {
	th, _, rfd, wfd := spliceFixture(t)
	data := []byte(strings.Repeat("0123456789", 10))
	if n, err := th.writev(wfd, []guestBuf{hostBuf(data)}); n != 100 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	out := &shortFile{room: 30}
	ofd, err := th.proc.fds.installFlags(out, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	args := SyscallArgs{uint64(rfd), 0, uint64(ofd), 0, 100, 0}
	if n, err := sysSpliceFn(th, args); n != 30 || err != nil {
		t.Errorf("splice into a file with room for 30 bytes: %d, %v; want 30", n, err)
	}
	if n, err := sysSpliceFn(th, args); n != 0 || err != unix.ENOSPC {
		t.Errorf("splice into a full file: %d, %v; want ENOSPC", n, err)
	}
	if !bytes.Equal(out.got, data[:30]) {
		t.Errorf("the file got %q, want %q", out.got, data[:30])
	}
	if got := pipeContents(t, th, rfd); !bytes.Equal(got, data[30:]) {
		t.Errorf("the pipe holds %q, want %q", got, data[30:])
	}
}

// racingFile is a read-only file without an offset to seek back. Its
// first read lets another writer fill the pipe p when the pipe is not
// locked, as a writer on another VCPU can between a splice's look at
// the room and its write.
type racingFile struct {
	fileBase
	data  []byte
	read  int
	p     *pipe
	other *pipeEnd
}

func (f *racingFile) Stat() (unix.Stat_t, error) { return unix.Stat_t{Mode: unix.S_IFCHR | 0o600}, nil }

func (f *racingFile) Read(_ *Thread, dst guestBuf) (int, error) {
	if f.p.mu.TryLock() {
		f.p.mu.Unlock()
		if _, err := f.other.Write(nil, hostBuf(make([]byte, len(f.p.buf)))); err != nil {
			return 0, err
		}
	}
	n, err := dst.fill(func(p []byte) (int, error) { return copy(p, f.data[f.read:]), nil })
	f.read += n
	return n, err
}

// TestSpliceFileToFillingPipe splices a file that cannot seek back into
// a pipe that another writer fills meanwhile: what splice read from the
// file must be in the pipe, none of it lost.
func TestSpliceFileToFillingPipe(t *testing.T) {
	th, p, rfd, wfd := spliceFixture(t)
	wof, err := th.proc.fds.get(wfd)
	if err != nil {
		t.Fatal(err)
	}
	defer wof.decRef()
	in := &racingFile{data: []byte(strings.Repeat("abcdefghij", 10)), p: p, other: wof.File.(*pipeEnd)}
	ifd, err := th.proc.fds.installFlags(in, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	n, err := sysSpliceFn(th, SyscallArgs{uint64(ifd), 0, uint64(wfd), 0, 100, spliceFNonblock})
	if err != nil && err != unix.EAGAIN {
		t.Fatalf("splice: %v", err)
	}
	got := pipeContents(t, th, rfd)
	if int(n) != in.read || !bytes.Contains(got, in.data[:n]) {
		t.Errorf("splice returned %d (%v) after reading %d bytes from the file; the pipe holds %d bytes", n, err, in.read, len(got))
	}
}

// TestStdinReadStartsPump reads an empty standard input without waiting
// (as an O_NONBLOCK read does) and then waits on its queue only: the
// read must have asked the pump for data, or nothing ever comes.
func TestStdinReadStartsPump(t *testing.T) {
	f := newStdinFile(strings.NewReader("data"))
	defer f.Close()
	buf := make([]byte, 8)
	if n, err := f.Read(nil, hostBuf(buf)); n != 0 || err != errWouldBlock {
		t.Fatalf("first read: %d, %v; want errWouldBlock", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := f.q.waitFor(ctx, func() (int, error) { return f.Read(nil, hostBuf(buf)) })
	if err != nil || string(buf[:n]) != "data" {
		t.Errorf("read after waiting: %q, %v", buf[:n], err)
	}
}
