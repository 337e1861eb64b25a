package perfevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// trampolineEnv marks a process started by StartStopped. Its value is
// "CTL,STATUS": the fd the trampoline reads its command from and the fd
// it reports readiness and exec failures on.
const trampolineEnv = "VPMU_EXEC_TRAMPOLINE"

// Trampoline protocol bytes on the status pipe.
const (
	statusReady    = 'R' // the child is blocked waiting for its command
	statusExecFail = 'E' // followed by a 4-byte errno; execve failed
)

// Exit codes of a trampoline that did not exec.
const (
	exitAborted    = 125 // the parent closed the control pipe (Abort)
	exitExecFailed = 127 // execve failed
)

// trampolineTimeout bounds how long StartStopped waits for the child to
// say it is ready; a binary that does not call MaybeRunTrampoline never
// says so.
const trampolineTimeout = 30 * time.Second

// Stopped is a command started by StartStopped: a child process that has
// not yet executed the command. Its pid is the pid the command will run
// as, so counters opened on it now (with EnableOnExec and Inherit) count
// the command from its first instruction.
type Stopped struct {
	cmd    *exec.Cmd
	path   string
	args   []string
	ctl    *os.File // write end: the command goes here
	status *os.File // read end: exec failures come back here
	done   bool
}

// StartStopped starts cmd stopped before its execve. Go cannot fork
// without exec, so the child is this same binary (/proc/self/exe)
// re-executed as a trampoline: it blocks until Release, then execs the
// command from its main thread, the thread the counters are attached to.
// The program's main (and TestMain) must call MaybeRunTrampoline first.
//
// cmd must not have been started. Its Stdin, Stdout, Stderr, ExtraFiles,
// Dir, Env and SysProcAttr apply to the command as with cmd.Start. After
// StartStopped returns, the caller owns the process through cmd as usual
// (cmd.Process, cmd.Wait, cmd.ProcessState with exit status, signal and
// rusage) and must call Release or Abort, then cmd.Wait.
func StartStopped(cmd *exec.Cmd) (*Stopped, error) {
	if cmd.Process != nil {
		return nil, errors.New("perfevent: StartStopped: command already started")
	}
	if cmd.Err != nil {
		return nil, fmt.Errorf("perfevent: StartStopped: %w", cmd.Err)
	}
	if cmd.Path == "" || len(cmd.Args) == 0 {
		return nil, errors.New("perfevent: StartStopped: command has no path or no argv")
	}
	for _, a := range append([]string{cmd.Path}, cmd.Args...) {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("perfevent: StartStopped: argument %q contains a NUL byte", a)
		}
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("perfevent: StartStopped: %w", err)
	}
	stR, stW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, fmt.Errorf("perfevent: StartStopped: %w", err)
	}
	path, args, env, extra := cmd.Path, cmd.Args, cmd.Env, cmd.ExtraFiles
	first := 3 + len(extra) // fd number of ctlR in the child
	cmd.Env = append(cmd.Environ(), trampolineEnv+"="+strconv.Itoa(first)+","+strconv.Itoa(first+1))
	cmd.ExtraFiles = append(extra[:len(extra):len(extra)], ctlR, stW)
	cmd.Path = "/proc/self/exe"
	cmd.Args = []string{args[0]}
	err = cmd.Start()
	cmd.Path, cmd.Args, cmd.Env, cmd.ExtraFiles = path, args, env, extra
	ctlR.Close()
	stW.Close()
	if err != nil {
		ctlW.Close()
		stR.Close()
		return nil, fmt.Errorf("perfevent: StartStopped: start trampoline: %w", err)
	}
	s := &Stopped{cmd: cmd, path: path, args: args, ctl: ctlW, status: stR}
	if err := s.waitReady(); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		s.closePipes()
		return nil, fmt.Errorf("perfevent: StartStopped %s: %w", path, err)
	}
	return s, nil
}

// waitReady reads the child's ready byte.
func (s *Stopped) waitReady() error {
	s.status.SetReadDeadline(time.Now().Add(trampolineTimeout))
	defer s.status.SetReadDeadline(time.Time{})
	var b [1]byte
	if _, err := io.ReadFull(s.status, b[:]); err != nil {
		return fmt.Errorf("trampoline did not report ready (does main call perfevent.MaybeRunTrampoline first?): %w", err)
	}
	if b[0] != statusReady {
		return fmt.Errorf("trampoline sent %q instead of ready", b[0])
	}
	return nil
}

// PID returns the process id the command will run as.
func (s *Stopped) PID() int { return s.cmd.Process.Pid }

// Target returns the target that counts the command from its execve:
// its pid, any CPU, Inherit (children and threads it creates) and
// EnableOnExec.
func (s *Stopped) Target() pmu.Target {
	return pmu.Target{PID: s.PID(), CPU: -1, Inherit: true, EnableOnExec: true}
}

// Release lets the child exec the command. It returns once the execve
// has succeeded, or with the execve error (the child then exits with
// status 127; reap it with cmd.Wait).
func (s *Stopped) Release() error {
	if s.done {
		return ErrClosed
	}
	s.done = true
	defer s.closePipes()
	if _, err := s.ctl.Write(encodeCommand(s.path, s.args)); err != nil {
		return fmt.Errorf("perfevent: release %s: write to trampoline: %w", s.path, err)
	}
	s.ctl.Close()
	// The status pipe's write end is close-on-exec in the child: EOF
	// with no data means the execve succeeded.
	msg, err := io.ReadAll(s.status)
	if err != nil {
		return fmt.Errorf("perfevent: release %s: read trampoline status: %w", s.path, err)
	}
	if len(msg) == 0 {
		return nil
	}
	if len(msg) == 5 && msg[0] == statusExecFail {
		return &os.PathError{Op: "execve", Path: s.path, Err: unix.Errno(binary.LittleEndian.Uint32(msg[1:]))}
	}
	return fmt.Errorf("perfevent: release %s: trampoline sent %q", s.path, msg)
}

// Wait waits for the command to exit and returns cmd.Wait's result;
// cmd.ProcessState then has the exit status, the signal and the rusage
// (user and system time, from waitid).
//
// Prefer it to calling cmd.Wait directly while the command runs. cmd.Wait
// blocks its thread in waitid(2), and while a thread sits in a system
// call the Go runtime's sysmon thread wakes every 20 µs for up to 10 ms
// (then at growing intervals) to consider retaking its P; on a machine
// with few CPUs those wakeups can preempt the command being counted and
// show up in its context switches. Wait parks the goroutine in the
// runtime's poller on a pidfd (readable once the process exits) and
// calls cmd.Wait only then. Measured here on 2 vCPUs for a 45 ms command
// (context switches, 7 runs): cmd.Wait 24-87, Wait 22-31, perf stat
// 22-60. Without pidfd_open (Linux < 5.3) it is cmd.Wait.
func (s *Stopped) Wait() error {
	waitExit(s.cmd.Process.Pid)
	return s.cmd.Wait()
}

// waitExit blocks the calling goroutine, not its thread, until process
// pid exits (or returns at once if that cannot be arranged).
func waitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	// Non-blocking, so that os.NewFile registers it with the poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		// Check before waiting, and again after each wakeup: the pidfd
		// is readable once the process has exited, but a readiness edge
		// that arrived before the poller was armed is not seen again.
		// WNOWAIT leaves the child for cmd.Wait to reap.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		return err != nil || info.Signo != 0
	})
}

// Abort makes the child exit (status 125) without running the command.
// Reap it with cmd.Wait.
func (s *Stopped) Abort() error {
	if s.done {
		return ErrClosed
	}
	s.done = true
	s.closePipes()
	return nil
}

func (s *Stopped) closePipes() {
	s.ctl.Close()
	s.status.Close()
}

// encodeCommand frames path and argv for the control pipe: a 4-byte
// little-endian length, then NUL-terminated strings.
func encodeCommand(path string, args []string) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 0})
	b.WriteString(path)
	b.WriteByte(0)
	for _, a := range args {
		b.WriteString(a)
		b.WriteByte(0)
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// decodeCommand is the inverse of encodeCommand on the frame's body.
func decodeCommand(body []byte) (path string, args []string, err error) {
	if len(body) == 0 || body[len(body)-1] != 0 {
		return "", nil, errors.New("command frame not NUL-terminated")
	}
	parts := bytes.Split(body[:len(body)-1], []byte{0})
	path = string(parts[0])
	if path == "" || len(parts) < 2 {
		return "", nil, errors.New("command frame without path or argv")
	}
	for _, p := range parts[1:] {
		args = append(args, string(p))
	}
	return path, args, nil
}
