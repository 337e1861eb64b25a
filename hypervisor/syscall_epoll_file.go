package hypervisor

import (
	"context"
	"sync"
	"time"

	"github.com/vpmu/vpmu/internal/unix"
)

// An epoll instance (fs/eventpoll.c): an interest list of (fd, file)
// items, each parked on its file's wait queue, and a ready list that
// their notifications fill. Waiting re-reads each ready item's readiness,
// so a notification only needs to say "look again".

// Event bits (include/uapi/linux/eventpoll.h; the low ones are POLL*).
const (
	epollIn        = 0x001
	epollPri       = 0x002
	epollOut       = 0x004
	epollErr       = 0x008
	epollHup       = 0x010
	epollNval      = 0x020
	epollRdnorm    = 0x040
	epollRdband    = 0x080
	epollWrnorm    = 0x100
	epollWrband    = 0x200
	epollMsg       = 0x400
	epollRdhup     = 0x2000
	epollExclusive = 1 << 28
	epollWakeup    = 1 << 29
	epollOneshot   = 1 << 30
	epollET        = 1 << 31

	// epollAlways are reported whether asked for or not.
	epollAlways = epollErr | epollHup
	// epollInputBits are the bits that select events (not behaviour).
	epollEventBits = epollIn | epollPri | epollOut | epollErr | epollHup | epollNval | epollRdnorm |
		epollRdband | epollWrnorm | epollWrband | epollMsg | epollRdhup
	// epollExclusiveOK are the bits EPOLLEXCLUSIVE may come with.
	epollExclusiveOK = epollIn | epollOut | epollErr | epollHup | epollWakeup | epollET | epollExclusive |
		epollRdnorm | epollRdband | epollWrnorm | epollWrband | epollMsg | epollRdhup
)

// epollEvent is struct epoll_event (packed on x86-64: 12 bytes).
type epollEvent struct {
	events uint32
	data   uint64
}

const epollEventSize = 12

// epitem is one entry of an interest list.
type epitem struct {
	ep   *epollFile
	fd   int
	of   *openFile // not a reference: the item goes when the file closes
	file pollable
	ev   epollEvent
	// The fields below are protected by ep.mu.
	ready    bool // on the ready list
	disabled bool // EPOLLONESHOT fired; re-armed by EPOLL_CTL_MOD
	removed  bool
}

// notify is the item's wake-up from its file: it joins the ready list,
// unless the events that may have come are none it waits for
// (ep_poll_callback), so that an edge-triggered item sees the edges of
// its own events only.
func (it *epitem) notify(events uint32) {
	ep := it.ep
	ep.mu.Lock()
	if it.removed || it.disabled || it.ready || events&it.ev.events == 0 {
		ep.mu.Unlock()
		return
	}
	it.ready = true
	ep.rdlist = append(ep.rdlist, it)
	ep.wakeLocked()
	ep.mu.Unlock()
	ep.q.notify(epollIn | epollRdnorm)
}

// epollKey identifies an item: the fd and the open file it had when
// added (Linux keys by file and fd).
type epollKey struct {
	fd int
	of *openFile
}

// epollFile is an epoll instance; it is itself pollable (readable while
// an item is ready), so that epoll sets nest.
type epollFile struct {
	fileBase
	q waitQueue

	mu     sync.Mutex
	items  map[epollKey]*epitem
	rdlist []*epitem
	// changed is closed (and replaced) when an item becomes ready, for
	// the threads waiting in epoll_wait.
	changed chan struct{}
}

func newEpollFile() *epollFile {
	return &epollFile{items: map[epollKey]*epitem{}, changed: make(chan struct{})}
}

func (ep *epollFile) wakeLocked() {
	close(ep.changed)
	ep.changed = make(chan struct{})
}

func (ep *epollFile) Stat() (unix.Stat_t, error) {
	// An anonymous inode, as Linux shows "anon_inode:[eventpoll]".
	return unix.Stat_t{Mode: 0o600, Nlink: 1, Blksize: pageSize}, nil
}

func (ep *epollFile) waitQueue() *waitQueue { return &ep.q }

// readiness is EPOLLIN while an item is ready.
func (ep *epollFile) readiness() uint32 {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, it := range ep.rdlist {
		if !it.removed && !it.disabled && it.of.refs.Load() > 0 && it.file.readiness()&(it.ev.events|epollAlways) != 0 {
			return epollIn | epollRdnorm
		}
	}
	return 0
}

// Close removes every item from its file's wait queue.
func (ep *epollFile) Close() error {
	ep.mu.Lock()
	items := ep.items
	ep.items = map[epollKey]*epitem{}
	ep.rdlist = nil
	for _, it := range items {
		it.removed = true
	}
	ep.mu.Unlock()
	for _, it := range items {
		it.file.waitQueue().remove(it)
	}
	return nil
}

// lookup returns the live item for fd, dropping one whose file was
// closed or replaced. Called with mu held.
func (ep *epollFile) lookup(fd int, of *openFile) *epitem {
	for k, it := range ep.items {
		if k.fd != fd {
			continue
		}
		if k.of == of && of.refs.Load() > 0 {
			return it
		}
		if k.of.refs.Load() <= 0 {
			ep.dropLocked(it)
		}
	}
	return nil
}

// dropLocked removes it from the interest list and its file's wait
// queue (whose lock is never held while calling into epoll). Called with
// mu held.
func (ep *epollFile) dropLocked(it *epitem) {
	it.removed = true
	delete(ep.items, epollKey{it.fd, it.of})
	it.file.waitQueue().remove(it)
}

// add implements EPOLL_CTL_ADD.
func (ep *epollFile) add(fd int, of *openFile, file pollable, ev epollEvent) error {
	if inner, ok := file.(*epollFile); ok {
		if ev.events&epollExclusive != 0 {
			return unix.EINVAL
		}
		if inner.reaches(ep, 0) {
			return unix.ELOOP
		}
	}
	ep.mu.Lock()
	if ep.lookup(fd, of) != nil {
		ep.mu.Unlock()
		return unix.EEXIST
	}
	ev.events |= epollAlways
	it := &epitem{ep: ep, fd: fd, of: of, file: file, ev: ev}
	ep.items[epollKey{fd, of}] = it
	ep.mu.Unlock()
	file.waitQueue().add(it)
	// It may be ready already.
	it.notify(notifyAll)
	return nil
}

// modify implements EPOLL_CTL_MOD.
func (ep *epollFile) modify(fd int, of *openFile, ev epollEvent) error {
	ep.mu.Lock()
	it := ep.lookup(fd, of)
	if it == nil {
		ep.mu.Unlock()
		return unix.ENOENT
	}
	if it.ev.events&epollExclusive != 0 {
		ep.mu.Unlock()
		return unix.EINVAL
	}
	it.ev = epollEvent{events: ev.events | epollAlways, data: ev.data}
	it.disabled = false
	ep.mu.Unlock()
	it.notify(notifyAll)
	return nil
}

// remove implements EPOLL_CTL_DEL.
func (ep *epollFile) remove(fd int, of *openFile) error {
	ep.mu.Lock()
	it := ep.lookup(fd, of)
	if it == nil {
		ep.mu.Unlock()
		return unix.ENOENT
	}
	it.removed = true
	delete(ep.items, epollKey{fd, of})
	ep.mu.Unlock()
	it.file.waitQueue().remove(it)
	return nil
}

// reaches reports whether target is ep or nested in it, within the
// depth Linux allows (EP_MAX_NESTS).
func (ep *epollFile) reaches(target *epollFile, depth int) bool {
	if ep == target || depth > 4 {
		return true
	}
	ep.mu.Lock()
	var inner []*epollFile
	for _, it := range ep.items {
		if e, ok := it.file.(*epollFile); ok {
			inner = append(inner, e)
		}
	}
	ep.mu.Unlock()
	for _, e := range inner {
		if e.reaches(target, depth+1) {
			return true
		}
	}
	return false
}

// collect takes up to max ready events off the ready list (ep_send_events):
// each ready item's readiness is read again, as thread t (epoll_wait's
// caller) sees it; level-triggered items that
// are still ready go back to the end of the list, edge-triggered ones
// wait for their next notification, one-shot ones are disabled.
func (ep *epollFile) collect(t *Thread, max int) []epollEvent {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []epollEvent
	var again []*epitem
	i := 0
	for ; i < len(ep.rdlist) && len(out) < max; i++ {
		it := ep.rdlist[i]
		it.ready = false
		if it.removed || it.disabled {
			continue
		}
		if it.of.refs.Load() <= 0 {
			ep.dropLocked(it)
			continue
		}
		got := readinessAs(it.file, t) & it.ev.events & epollEventBits
		if got == 0 {
			continue
		}
		out = append(out, epollEvent{events: got, data: it.ev.data})
		switch {
		case it.ev.events&epollOneshot != 0:
			it.disabled = true
		case it.ev.events&epollET == 0:
			it.ready = true
			again = append(again, it)
		}
	}
	rest := append(ep.rdlist[i:len(ep.rdlist):len(ep.rdlist)], again...)
	clear(ep.rdlist[:i])
	ep.rdlist = rest
	return out
}

// wait collects events, waiting until there are some, ctx is done
// (EINTR: a signal or the process exit) or the deadline passes (zero:
// never).
func (ep *epollFile) wait(ctx context.Context, t *Thread, max int, deadline time.Time) ([]epollEvent, error) {
	var timer <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timer = tm.C
	}
	for {
		ep.mu.Lock()
		changed := ep.changed
		ep.mu.Unlock()
		if evs := ep.collect(t, max); len(evs) > 0 {
			return evs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, unix.EINTR
		case <-timer:
			return nil, nil
		}
	}
}
