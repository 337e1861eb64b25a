package hypervisor

import (
	"context"
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// timerfd_create, timerfd_settime and timerfd_gettime (fs/timerfd.c): a
// timer read as a file. A read returns the number of expirations since
// the last read or setting as 8 bytes, and waits while there are none;
// poll, select and epoll see it readable when there are some.
//
// TFD_TIMER_CANCEL_ON_SET is accepted and has no effect: it cancels a
// read when CLOCK_REALTIME is set, and the guest cannot set it
// (clock_settime is refused) while changes of the host's clock are not
// watched.

func init() {
	registerSyscall(sysTimerfdCreate, sysTimerfdCreateFn)
	registerSyscall(sysTimerfdSettime, sysTimerfdSettimeFn)
	registerSyscall(sysTimerfdGettime, sysTimerfdGettimeFn)
}

// timerfd flags.
const (
	tfdCloexec          = unix.O_CLOEXEC
	tfdNonblock         = unix.O_NONBLOCK
	tfdTimerAbstime     = 1
	tfdTimerCancelOnSet = 2
	tfdSettimeFlags     = tfdTimerAbstime | tfdTimerCancelOnSet
	timerfdTicksSize    = 8
)

// timerFile is a timerfd. As in Linux, a periodic timer that has
// expired is not rearmed until it is read (or timerfd_gettime looks at
// it): the read then counts the periods skipped as further ticks. The
// fields after mu are protected by it; the host timer is a time.Timer
// that costs no goroutine while it waits.
type timerFile struct {
	fileBase
	q     waitQueue
	clock int

	mu       sync.Mutex
	timer    *time.Timer
	deadline time.Time // the next expiry; zero when disarmed
	interval time.Duration
	gen      uint64 // counts settings, so a stale expiry does nothing
	expired  bool   // a periodic timer expired and waits to be rearmed
	ticks    uint64 // expirations not read yet
	closed   bool
}

func sysTimerfdCreateFn(t *Thread, a SyscallArgs) (uint64, error) {
	clock, flags := a.Int(0), a.Int(1)
	if flags&^(tfdCloexec|tfdNonblock) != 0 {
		return 0, unix.EINVAL
	}
	if err := timerfdClockErr(clock); err != nil {
		return 0, err
	}
	fd, err := t.proc.fds.installFlags(&timerFile{clock: clock}, unix.O_RDWR|flags)
	return uint64(fd), err
}

// timerfdOf returns the timerFile of fd, with the reference to put:
// EBADF for no fd, EINVAL for an fd that is not a timerfd.
func (t *Thread) timerfdOf(fd int) (*timerFile, *openFile, error) {
	of, err := t.proc.fds.get(fd)
	if err != nil {
		return nil, nil, err
	}
	tf, ok := of.File.(*timerFile)
	if !ok {
		t.proc.fds.put(of)
		return nil, nil, unix.EINVAL
	}
	return tf, of, nil
}

func sysTimerfdSettimeFn(t *Thread, a SyscallArgs) (uint64, error) {
	flags := a.Int(1)
	spec, err := t.readItimerspec(a[2])
	if err != nil {
		return 0, err
	}
	if flags&^tfdSettimeFlags != 0 {
		return 0, unix.EINVAL
	}
	tf, of, err := t.timerfdOf(a.Int(0))
	if err != nil {
		return 0, err
	}
	defer t.proc.fds.put(of)
	abs := flags&tfdTimerAbstime != 0
	var now timespec
	if abs {
		if now, err = t.clockNow(tf.clock); err != nil {
			return 0, err
		}
	}
	oldInterval, oldValue := tf.set(spec, abs, now)
	if a[3] != 0 {
		return 0, t.proc.mm.CopyOut(a[3], encodeItimerspec(oldInterval, oldValue))
	}
	return 0, nil
}

func sysTimerfdGettimeFn(t *Thread, a SyscallArgs) (uint64, error) {
	tf, of, err := t.timerfdOf(a.Int(0))
	if err != nil {
		return 0, err
	}
	interval, value := tf.get()
	t.proc.fds.put(of)
	return 0, t.proc.mm.CopyOut(a[1], encodeItimerspec(interval, value))
}

// set arms the timer with spec (value zero: disarm), its it_value
// absolute on the timer's clock if abs, whose reading is now. Unread
// expirations are dropped. It returns the previous setting.
func (f *timerFile) set(spec itimerspec, abs bool, now timespec) (oldInterval, oldValue time.Duration) {
	hostNow := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	oldInterval, oldValue = f.getLocked(hostNow)
	f.stopLocked()
	f.ticks, f.expired = 0, false
	f.interval = time.Duration(spec.interval.nanos())
	if spec.value.nanos() != 0 && !f.closed {
		f.deadline = firstExpiry(spec.value, abs, now, hostNow)
		f.armLocked()
	}
	return oldInterval, oldValue
}

func (f *timerFile) stopLocked() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.gen++
	f.deadline = time.Time{}
}

func (f *timerFile) armLocked() {
	gen := f.gen
	f.timer = time.AfterFunc(time.Until(f.deadline), func() { f.fire(gen) })
}

// fire counts an expiry and wakes the readers.
func (f *timerFile) fire(gen uint64) {
	f.mu.Lock()
	if gen != f.gen {
		f.mu.Unlock()
		return
	}
	f.timer = nil
	f.ticks++
	if f.interval > 0 {
		f.expired = true
	} else {
		f.deadline = time.Time{}
	}
	f.mu.Unlock()
	f.q.notify(epollIn)
}

// catchUpLocked counts an expiry that has passed but whose host timer
// has not run yet, so that a read or timerfd_gettime right after the
// deadline sees it as the kernel would; the late host timer then does
// nothing. It reports whether it counted one.
func (f *timerFile) catchUpLocked(now time.Time) bool {
	if f.deadline.IsZero() || f.expired || now.Before(f.deadline) {
		return false
	}
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.gen++
	f.ticks++
	if f.interval > 0 {
		f.expired = true
	} else {
		f.deadline = time.Time{}
	}
	return true
}

// rearmLocked rearms a periodic timer that expired, adding the periods
// skipped since to the ticks (hrtimer_forward_now).
func (f *timerFile) rearmLocked(now time.Time) {
	if !f.expired {
		return
	}
	f.expired = false
	next, missed := forward(f.deadline, f.interval, now)
	f.ticks += uint64(missed)
	f.deadline = next
	f.armLocked()
}

// get returns the interval and the time to the next expiry (zero when
// disarmed or due).
func (f *timerFile) get() (interval, value time.Duration) {
	now := time.Now()
	f.mu.Lock()
	caught := f.catchUpLocked(now)
	interval, value = f.getLocked(now)
	f.mu.Unlock()
	if caught {
		f.q.notify(epollIn)
	}
	return interval, value
}

func (f *timerFile) getLocked(now time.Time) (interval, value time.Duration) {
	f.rearmLocked(now)
	if f.deadline.IsZero() {
		return f.interval, 0
	}
	return f.interval, max(f.deadline.Sub(now), 0)
}

func (f *timerFile) Read(_ *Thread, dst guestBuf) (int, error) {
	if dst.Len() < timerfdTicksSize {
		return 0, unix.EINVAL
	}
	now := time.Now()
	f.mu.Lock()
	f.catchUpLocked(now)
	f.rearmLocked(now)
	v := f.ticks
	f.ticks = 0
	f.mu.Unlock()
	if v == 0 {
		return 0, errWouldBlock
	}
	return fillUint64(dst, v)
}

func (f *timerFile) ReadWait(ctx context.Context, dst guestBuf) (int, error) {
	return f.q.waitFor(ctx, func() (int, error) { return f.Read(nil, dst) })
}

func (f *timerFile) readiness() uint32 {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	due := !f.deadline.IsZero() && !f.expired && !now.Before(f.deadline)
	if f.ticks > 0 || due {
		return epollIn | epollRdnorm
	}
	return 0
}

func (f *timerFile) waitQueue() *waitQueue { return &f.q }

func (f *timerFile) Close() error {
	f.mu.Lock()
	f.stopLocked()
	f.closed = true
	f.mu.Unlock()
	f.q.notify(notifyAll)
	return nil
}

func (f *timerFile) Stat() (unix.Stat_t, error) {
	// An anonymous inode ("anon_inode:[timerfd]").
	return unix.Stat_t{Mode: 0o600, Nlink: 1, Blksize: pageSize}, nil
}

func (f *timerFile) fdPath() string { return "anon_inode:[timerfd]" }
