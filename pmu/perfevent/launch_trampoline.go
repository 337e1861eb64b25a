package perfevent

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vpmu/vpmu/internal/unix"
)

// In a trampoline child, keep the main goroutine on the main thread from
// package initialization on: the counters are attached to the main
// thread's tid (the pid), and an execve from any other thread would make
// that thread the new leader and leave the counters behind on the thread
// that exits.
func init() {
	if _, ok := os.LookupEnv(trampolineEnv); ok {
		runtime.LockOSThread()
	}
}

// MaybeRunTrampoline turns this process into the launch trampoline if it
// was started by StartStopped, and otherwise returns at once. Call it
// first thing in main and in TestMain of any binary that uses
// StartStopped. In the trampoline it never returns: it execs the command
// or exits (125 when aborted, 127 when execve fails).
func MaybeRunTrampoline() {
	v, ok := os.LookupEnv(trampolineEnv)
	if !ok {
		return
	}
	os.Exit(runTrampoline(v))
}

// runTrampoline is the child side of StartStopped. It returns an exit
// code only when it does not exec.
func runTrampoline(spec string) int {
	ctlS, stS, ok := strings.Cut(spec, ",")
	ctlFD, err1 := strconv.Atoi(ctlS)
	stFD, err2 := strconv.Atoi(stS)
	if !ok || err1 != nil || err2 != nil || ctlFD < 3 || stFD < 3 {
		fmt.Fprintf(os.Stderr, "vpmu trampoline: bad %s=%q\n", trampolineEnv, spec)
		return exitExecFailed
	}
	ctl := os.NewFile(uintptr(ctlFD), "trampoline-ctl")
	status := os.NewFile(uintptr(stFD), "trampoline-status")
	// Neither pipe may leak into the command.
	unix.CloseOnExec(ctlFD)
	unix.CloseOnExec(stFD)
	if _, err := status.Write([]byte{statusReady}); err != nil {
		return exitAborted
	}
	var hdr [4]byte
	if _, err := io.ReadFull(ctl, hdr[:]); err != nil {
		return exitAborted // Abort, or the parent died
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > 16<<20 {
		fmt.Fprintf(os.Stderr, "vpmu trampoline: command frame of %d bytes\n", n)
		return exitExecFailed
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(ctl, body); err != nil {
		return exitAborted
	}
	path, args, err := decodeCommand(body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vpmu trampoline: %v\n", err)
		return exitExecFailed
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, trampolineEnv+"=") {
			env = append(env, kv)
		}
	}
	err = unix.Exec(path, args, env)
	errno, ok := err.(unix.Errno)
	if !ok {
		errno = unix.EINVAL
	}
	var msg [5]byte
	msg[0] = statusExecFail
	binary.LittleEndian.PutUint32(msg[1:], uint32(errno))
	status.Write(msg[:])
	return exitExecFailed
}
