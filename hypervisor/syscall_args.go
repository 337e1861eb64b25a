package hypervisor

import (
	"encoding/binary"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// SyscallArgs are a system call's six argument registers: RDI, RSI,
// RDX, R10, R8, R9. The accessors decode them the way the Linux kernel
// does: "int" arguments use the low 32 bits only.
type SyscallArgs [6]uint64

// Int returns argument i as a C int (low 32 bits, sign-extended).
func (a SyscallArgs) Int(i int) int { return int(int32(a[i])) }

// Uint32 returns argument i as a C unsigned int.
func (a SyscallArgs) Uint32(i int) uint32 { return uint32(a[i]) }

// Uint64 returns argument i as a 64-bit value (size_t, unsigned long,
// pointers, off_t).
func (a SyscallArgs) Uint64(i int) uint64 { return a[i] }

// Int64 returns argument i as a signed 64-bit value (long, off_t).
func (a SyscallArgs) Int64(i int) int64 { return int64(a[i]) }

// maxRWCount is the largest count read/write transfer in one call, as
// Linux's MAX_RW_COUNT (INT_MAX rounded down to a page).
const maxRWCount = 0x7ffff000

// timespec is struct timespec (x86-64: two 64-bit words).
type timespec struct {
	sec, nsec int64
}

const timespecSize = 16

// decodeTimespec decodes and validates a struct timespec: EINVAL for a
// negative or out-of-range value, as the kernel's timespec64_valid.
func decodeTimespec(b []byte) (timespec, error) {
	ts := timespec{
		sec:  int64(binary.LittleEndian.Uint64(b[0:])),
		nsec: int64(binary.LittleEndian.Uint64(b[8:])),
	}
	if ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1e9 {
		return ts, unix.EINVAL
	}
	return ts, nil
}

func (ts timespec) encode() []byte {
	b := make([]byte, timespecSize)
	binary.LittleEndian.PutUint64(b[0:], uint64(ts.sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(ts.nsec))
	return b
}

// nanos returns the duration in nanoseconds, saturating.
func (ts timespec) nanos() int64 {
	if ts.sec > (1<<63-1)/1000000000-1 {
		return 1<<63 - 1
	}
	return ts.sec*1e9 + ts.nsec
}

// timespecOf returns d (not negative) as a timespec.
func timespecOf(d time.Duration) timespec {
	return timespec{sec: int64(d / time.Second), nsec: int64(d % time.Second)}
}

// timevalSize is sizeof(struct timeval) on x86-64: two 64-bit words.
const timevalSize = 16

// encodeTimeval lays d (not negative) out as a struct timeval, rounded
// down to microseconds.
func encodeTimeval(d time.Duration) []byte {
	b := make([]byte, timevalSize)
	binary.LittleEndian.PutUint64(b[0:], uint64(d/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(d%time.Second/time.Microsecond))
	return b
}

// decodeTimeval decodes a struct timeval: EINVAL for a negative one or
// microseconds out of range. Seconds beyond 2^62 ns are capped there.
func decodeTimeval(b []byte) (time.Duration, error) {
	sec, usec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || usec < 0 || usec >= 1e6 {
		return 0, unix.EINVAL
	}
	if sec > int64(1<<62)/1e9 {
		sec = int64(1<<62) / 1e9
	}
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

// readTimespec reads and validates a struct timespec from guest memory.
func (t *Thread) readTimespec(addr uint64) (timespec, error) {
	var b [timespecSize]byte
	if err := t.proc.mm.CopyIn(addr, b[:]); err != nil {
		return timespec{}, err
	}
	return decodeTimespec(b[:])
}

// iovec is struct iovec.
type iovec struct {
	base, len uint64
}

const (
	iovecSize = 16
	uioMaxIOV = 1024 // UIO_MAXIOV
)

// decodeIovecs decodes count struct iovec from b, validating as the
// kernel does: EINVAL for a negative or too large count, or lengths whose
// sum overflows a ssize_t.
func decodeIovecs(b []byte, count int) ([]iovec, error) {
	if count < 0 || count > uioMaxIOV || len(b) < count*iovecSize {
		return nil, unix.EINVAL
	}
	iovs := make([]iovec, count)
	var total uint64
	for i := range iovs {
		iovs[i] = iovec{
			base: binary.LittleEndian.Uint64(b[i*iovecSize:]),
			len:  binary.LittleEndian.Uint64(b[i*iovecSize+8:]),
		}
		if iovs[i].len > 1<<63-1 || total+iovs[i].len > 1<<63-1 {
			return nil, unix.EINVAL
		}
		total += iovs[i].len
	}
	return iovs, nil
}

// readIovecs reads and validates an iovec array from guest memory.
func (t *Thread) readIovecs(addr uint64, count int) ([]iovec, error) {
	if count < 0 || count > uioMaxIOV {
		return nil, unix.EINVAL
	}
	b := make([]byte, count*iovecSize)
	if err := t.proc.mm.CopyIn(addr, b); err != nil {
		return nil, err
	}
	return decodeIovecs(b, count)
}
