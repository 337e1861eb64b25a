package hypervisor

import (
	"encoding/binary"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// Timeouts of the system calls that wait for files: poll, ppoll,
// select, pselect6, epoll_wait, epoll_pwait and epoll_pwait2.

// waitDeadline is such a timeout: poll (a zero timeout: return at once),
// forever, or a deadline.
type waitDeadline struct {
	at      time.Time
	poll    bool
	forever bool
}

// msDeadline converts a timeout in milliseconds (negative: forever), as
// poll and epoll_wait take it.
func msDeadline(ms int) waitDeadline {
	switch {
	case ms < 0:
		return waitDeadline{forever: true}
	case ms == 0:
		return waitDeadline{poll: true}
	default:
		return waitDeadline{at: time.Now().Add(time.Duration(ms) * time.Millisecond)}
	}
}

// readDeadline reads the timeout at addr (NULL: forever): a struct
// timespec, or with timeval the struct timeval of select, whose
// microseconds may exceed a second (Linux carries them into the
// seconds). EFAULT, or EINVAL for a negative value or nanoseconds out of
// range.
func (t *Thread) readDeadline(addr uint64, timeval bool) (waitDeadline, error) {
	if addr == 0 {
		return waitDeadline{forever: true}, nil
	}
	var b [timespecSize]byte
	if err := t.proc.mm.CopyIn(addr, b[:]); err != nil {
		return waitDeadline{}, err
	}
	if timeval {
		sec, usec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
		if sec < 0 || usec < 0 {
			return waitDeadline{}, unix.EINVAL
		}
		binary.LittleEndian.PutUint64(b[0:], uint64(sec+usec/1e6))
		binary.LittleEndian.PutUint64(b[8:], uint64(usec%1e6*1000))
	}
	ts, err := decodeTimespec(b[:])
	if err != nil {
		return waitDeadline{}, err
	}
	if ts.nanos() == 0 {
		return waitDeadline{poll: true}, nil
	}
	return waitDeadline{at: time.Now().Add(time.Duration(ts.nanos()))}, nil
}

// timerAt is the time a wait for d ends: zero for none (forever, or a
// zero timeout, which never waits).
func (d waitDeadline) timerAt() time.Time {
	if d.forever || d.poll {
		return time.Time{}
	}
	return d.at
}

// writeLeft stores the time left before d at addr (a timespec, or a
// timeval), as select, pselect6 and ppoll do when they return
// (poll_select_finish). Nothing is written for NULL, no timeout or a
// zero one; a fault is ignored, as Linux ignores it.
func (t *Thread) writeLeft(addr uint64, d waitDeadline, timeval bool) {
	if addr == 0 || d.forever || d.poll {
		return
	}
	left := max(time.Until(d.at), 0)
	b := timespecOf(left).encode()
	if timeval {
		b = encodeTimeval(left)
	}
	t.proc.mm.CopyOut(addr, b)
}
