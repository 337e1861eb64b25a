package hypervisor

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vpmu/vpmu/internal/unix"
)

// Signal state: the process's actions and shared pending queue, each
// thread's mask and private queue, and sending (kernel/signal.c:
// send_signal, complete_signal, dequeue_signal, force_sig_info).

// maxQueuedSignals bounds each pending queue, as RLIMIT_SIGPENDING does:
// beyond it, sending a real-time signal fails with EAGAIN.
const maxQueuedSignals = 4096

// sigpending is a queue of pending signals: the set, and the siginfo of
// each instance in order of arrival. A standard signal is queued at most
// once; real-time signals queue every instance.
type sigpending struct {
	set   sigset
	queue []siginfo
	// seen mirrors set for readers without sig.mu (a signalfd's
	// readiness, which pollers read under their own locks); it is
	// stored under sig.mu after every change.
	seen atomic.Uint64
}

// publish stores set in seen; called after every change of set.
func (q *sigpending) publish() { q.seen.Store(uint64(q.set)) }

// pendingSet returns the set as last published; safe without sig.mu.
func (q *sigpending) pendingSet() sigset { return sigset(q.seen.Load()) }

// add queues info. It returns false when the signal was dropped: a
// standard signal already pending (Linux's legacy_queue), or a full queue.
// A POSIX timer's signal is always queued, as its preallocated sigqueue
// is in Linux (send_sigqueue): a timer has at most one queued.
func (q *sigpending) add(info siginfo) (queued, full bool) {
	sig := int(info.signo)
	if info.timer != nil {
		q.queue = append(q.queue, info)
		q.set |= sigmask(sig)
		q.publish()
		return true, false
	}
	if !isRealtime(sig) && q.set.has(sig) {
		return false, false
	}
	if len(q.queue) >= maxQueuedSignals {
		return false, true
	}
	q.queue = append(q.queue, info)
	q.set |= sigmask(sig)
	q.publish()
	return true, false
}

// take removes the first instance of sig. A pending signal without a
// queued siginfo (none is lost here, but be safe) reads as sent by the
// kernel.
func (q *sigpending) take(sig int) siginfo {
	idx, n := -1, 0
	for i, in := range q.queue {
		if int(in.signo) == sig {
			if idx < 0 {
				idx = i
			}
			n++
		}
	}
	info := siginfo{signo: int32(sig), code: siKernel}
	if idx >= 0 {
		info = q.queue[idx]
		q.queue = slices.Delete(q.queue, idx, idx+1)
	}
	if info.timer != nil {
		// The caller holds sig.mu, which comes before a timer's lock.
		info.timer.dequeued(&info)
	}
	if n <= 1 {
		q.set &^= sigmask(sig)
		q.publish()
	}
	return info
}

// flush drops every pending instance of the signals in set.
func (q *sigpending) flush(set sigset) {
	if q.set&set == 0 {
		return
	}
	keep := q.queue[:0]
	for _, in := range q.queue {
		if !set.has(int(in.signo)) {
			keep = append(keep, in)
		} else if in.timer != nil {
			in.timer.dropped(in.timerGen)
		}
	}
	clear(q.queue[len(keep):])
	q.queue = keep
	q.set &^= set
	q.publish()
}

// removeTimer drops the instances queued by timer tm with a setting
// other than gen: tm was rearmed or deleted since, and Linux delivers no
// signal of an old setting.
func (q *sigpending) removeTimer(tm *posixTimer, gen uint64) {
	q.removeIf(func(in *siginfo) bool { return in.timer == tm && in.timerGen != gen })
}

// dropStaleTimers drops the instances of POSIX timers rearmed or deleted
// since they were queued: those a timer's purge missed because they were
// sent while the setting changed. Called with sig.mu held, before a
// signal is chosen to dequeue.
func (q *sigpending) dropStaleTimers() {
	q.removeIf(func(in *siginfo) bool { return in.timer != nil && in.timer.stale(in.timerGen) })
}

// removeIf drops the instances drop selects, and the signals left with
// none from the set.
func (q *sigpending) removeIf(drop func(*siginfo) bool) {
	first := -1
	for i := range q.queue {
		if drop(&q.queue[i]) {
			first = i
			break
		}
	}
	if first < 0 {
		return // nothing to drop: leave the queue and its copy alone
	}
	keep := q.queue[:0]
	var gone, left sigset
	for i := range q.queue {
		in := &q.queue[i]
		if drop(in) {
			gone |= sigmask(int(in.signo))
			continue
		}
		keep = append(keep, *in)
		left |= sigmask(int(in.signo))
	}
	clear(q.queue[len(keep):])
	q.queue = keep
	q.set &^= gone &^ left
	q.publish()
}

// processSignals is the signal state a process's threads share. mu
// protects it and the fields of every thread's threadSignals marked
// (sig.mu). Lock order: sig.mu before Thread.mu, futex and scheduler
// locks; never the other way round.
type processSignals struct {
	mu      sync.Mutex
	actions [numSignals]sigaction
	shared  sigpending
	// lastTarget is the TID that took the last process-directed signal,
	// so that the next one starts looking after it.
	lastTarget int
	// itimer is ITIMER_REAL (alarm, setitimer); it has its own lock.
	itimer realTimer
	// timers are the POSIX timers (timer_create); they have their own
	// locks, which come after mu.
	timers posixTimers
	// signalfds are the process's open signalfds, to notify when a
	// signal is queued; their lock is never held with mu.
	signalfds signalfdSet
}

// threadSignals is a thread's signal state.
type threadSignals struct {
	// (sig.mu)
	mask    sigset
	pending sigpending
	// savedMask is the mask to restore after a system call that
	// replaced it while it waits (sigsuspend, epoll_pwait, ...), when
	// restoreMask is set: by the signal frame if a handler runs, else on
	// the way back to the program.
	savedMask   sigset
	restoreMask bool
	// realBlocked is the mask rt_sigtimedwait replaced while it waits
	// (zero otherwise): a signal it blocks is not fatal to the waiting
	// thread, which takes it itself (Linux: real_blocked).
	realBlocked sigset

	// Owned by whoever runs the thread (see Thread).
	alt sigaltstack
	// inSyscall is set while the thread is in a system call: sysNr is
	// its number, and a signal that interrupts it decides whether it
	// restarts (Linux: orig_ax >= 0).
	inSyscall bool
	sysNr     uint64
	// waited is set when the current system call waited and could be
	// interrupted.
	waited bool
	// restart continues a system call interrupted with
	// ERESTART_RESTARTBLOCK (restart_syscall); nil for none.
	restart syscallFunc
	// fault is what the last fault recorded for signal frames.
	fault faultInfo
}

// liveThreads returns p's threads in TID order.
func (p *Process) liveThreads() []*Thread {
	p.mu.Lock()
	ts := make([]*Thread, 0, len(p.threads))
	for _, t := range p.threads {
		ts = append(ts, t)
	}
	p.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].tid < ts[j].tid })
	return ts
}

// sendSignal queues info for the process (target nil) or for one of its
// threads, as kill(2) and tgkill(2) do, from the thread from (nil for the
// VMM). A signal whose action ignores it is discarded unless it is
// blocked; a thread that can take it is woken; if its action is fatal
// the whole process ends at once. The only error is EAGAIN when a queue
// is full.
func (p *Process) sendSignal(info siginfo, target, from *Thread) error {
	_, err := p.queueSignal(info, target, from)
	return err
}

// queueSignal is sendSignal that also reports whether the signal was
// queued: a periodic POSIX timer whose signal is not (it is ignored)
// parks.
func (p *Process) queueSignal(info siginfo, target, from *Thread) (queued bool, err error) {
	sig := int(info.signo)
	if sig == sigKILL {
		p.exit(ExitStatus{Signal: sigKILL}, nil)
		return false, nil
	}
	var threads []*Thread
	if target == nil {
		threads = p.liveThreads()
	}
	s := &p.sig
	s.mu.Lock()
	act := s.actions[sig-1]
	if act.ignores(sig) && !blockedByAny(sig, target, threads) {
		if info.timer != nil {
			// Park a periodic timer under sig.mu, so that a sigaction
			// that stops ignoring sig cannot look for parked timers
			// in between and miss this one.
			info.timer.dropped(info.timerGen)
		}
		s.mu.Unlock()
		return false, nil
	}
	q := &s.shared
	if target != nil {
		q = &target.sig.pending
	}
	queued, full := q.add(info)
	if full && isRealtime(sig) {
		s.mu.Unlock()
		return false, unix.EAGAIN
	}
	if !queued {
		s.mu.Unlock()
		return false, nil
	}
	wake := target
	if target == nil {
		wake = s.pickTarget(sig, from, threads)
	} else if target.sig.mask.has(sig) {
		wake = nil
	}
	if wake != nil && act.fatal(sig) && !wake.sig.realBlocked.has(sig) {
		s.mu.Unlock()
		p.exit(ExitStatus{Signal: syscall.Signal(sig)}, nil)
		return true, nil
	}
	if wake != nil && wake != from {
		// Under sig.mu: wake cannot have taken the signal yet, so the
		// wait it interrupts is one the signal must end.
		wake.signalWake()
	}
	s.mu.Unlock()
	// After sig.mu: the signalfds' waiters read the pending sets back.
	s.signalfds.wake()
	return true, nil
}

// blockedByAny reports whether target, or for a process-directed signal
// any of threads, blocks sig. Called with sig.mu held.
func blockedByAny(sig int, target *Thread, threads []*Thread) bool {
	if target != nil {
		return target.sig.mask.has(sig)
	}
	for _, t := range threads {
		if t.sig.mask.has(sig) {
			return true
		}
	}
	return false
}

// pickTarget chooses the thread that takes a process-directed signal:
// the sender if it does not block it, else the next thread in TID order
// after the last one picked that does not (complete_signal). nil if all
// block it: it stays pending for the first thread that unblocks it.
// Called with mu held.
func (s *processSignals) pickTarget(sig int, from *Thread, threads []*Thread) *Thread {
	if from != nil && !from.sig.mask.has(sig) && !from.proc.exiting.Load() {
		return from
	}
	start := sort.Search(len(threads), func(i int) bool { return threads[i].tid > s.lastTarget })
	for i := range threads {
		t := threads[(start+i)%len(threads)]
		if !t.sig.mask.has(sig) {
			s.lastTarget = t.tid
			return t
		}
	}
	return nil
}

// signalWake makes t notice a signal: its wait, if it waits, ends (the
// system call returns EINTR or restarts); if it runs, its VCPU is kicked
// to deliver at the next safe point. Called with sig.mu held.
func (t *Thread) signalWake() {
	t.mu.Lock()
	cancel, w := t.cancel, t.waiter
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if w != nil {
		w.interrupt()
	}
	s := t.proc.vm.sched
	s.mu.Lock()
	if t.state == threadRunning && t.vcpu != nil {
		t.vcpu.requestKick(kickSignal)
	}
	s.mu.Unlock()
}

// deliverable returns t's pending signals it does not block. Called
// with sig.mu held.
func (t *Thread) deliverable() sigset {
	return (t.sig.pending.set | t.proc.sig.shared.set) &^ t.sig.mask
}

// signalPending reports whether t has a signal to act on, which ends
// any wait it starts.
func (t *Thread) signalPending() bool {
	s := &t.proc.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.deliverable() != 0
}

// nextSignal dequeues the signal t acts on next, from its own queue
// before the process's, synchronous signals first, with the action to
// take. A one-shot action (SA_RESETHAND) is reset to SIG_DFL.
func (t *Thread) nextSignal() (siginfo, sigaction, bool) {
	s := &t.proc.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	t.sig.pending.dropStaleTimers()
	s.shared.dropStaleTimers()
	q := &t.sig.pending
	sig := (q.set &^ t.sig.mask).lowest()
	if sig == 0 {
		q = &s.shared
		if sig = (q.set &^ t.sig.mask).lowest(); sig == 0 {
			return siginfo{}, sigaction{}, false
		}
	}
	info := q.take(sig)
	act := s.actions[sig-1]
	if act.flags&saResethand != 0 && act.handler != sigDFL && act.handler != sigIGN {
		s.actions[sig-1].handler = sigDFL
	}
	return info, act, true
}

// forceSignal queues a signal t cannot refuse (a fault, a bad frame), as
// force_sig_info: if t blocks or ignores it, the action is reset to
// SIG_DFL and it is unblocked. It reports whether the signal will end
// the process rather than run a handler.
func (t *Thread) forceSignal(info siginfo) (fatal bool) {
	sig := int(info.signo)
	s := &t.proc.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	act := &s.actions[sig-1]
	if act.handler == sigIGN || t.sig.mask.has(sig) {
		act.handler = sigDFL
		t.sig.mask &^= sigmask(sig)
	}
	t.sig.pending.add(info)
	return act.handler == sigDFL
}

// exitSignals runs when t exits: its private signals are dropped, and a
// process-directed signal it could have taken goes to another thread
// that can (retarget_shared_pending).
func (t *Thread) exitSignals() {
	s := &t.proc.sig
	threads := t.proc.liveThreads()
	s.mu.Lock()
	defer s.mu.Unlock()
	t.sig.mask = ^sigset(0)
	t.sig.pending.flush(^sigset(0))
	t.sig.pending.queue = nil
	left := s.shared.set
	for _, o := range threads {
		if left == 0 {
			break
		}
		if o == t {
			continue
		}
		if want := left &^ o.sig.mask; want != 0 {
			left &^= want
			o.signalWake()
		}
	}
}

// stopSignals releases what outlives the threads: the interval timer
// and the POSIX timers.
func (p *Process) stopSignals() {
	p.sig.itimer.set(p, 0, 0)
	p.sig.timers.deleteAll()
}

// signalSelf sends sig to t as the kernel does on t's behalf (SI_USER
// from its own process): SIGPIPE for a write to a pipe without readers,
// SIGXFSZ for a write beyond the file size limit.
func (t *Thread) signalSelf(sig int) {
	t.proc.sendSignal(t.senderInfo(sig, siUser), t, t)
}

// cloneSignals gives a new thread its signal state: the creator's mask,
// nothing pending, no alternate stack (copy_process with CLONE_VM).
func (t *Thread) cloneSignals(child *Thread) {
	s := &t.proc.sig
	s.mu.Lock()
	child.sig.mask = t.sig.mask
	s.mu.Unlock()
}
