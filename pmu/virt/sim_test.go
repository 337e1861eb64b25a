package virt

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
)

// The simulated world of the property tests: PCPUs with physical counters
// that count whatever runs on them, VCPUs that enter and leave guest mode
// on PCPUs (and migrate), guest threads switched on and off VCPUs, and the
// exact ground truth of what each thread's logical counters must read.

// Source slots of the simulated VCPUs.
const (
	srcTSC   = 0 // SourceTSC, 64-bit
	srcPMC48 = 1 // SourceRDPMC index 0, 48-bit
	srcPMC40 = 2 // SourceRDPMC index 1, 40-bit
	srcVMM   = 3 // SourceVMM tally
	nSrc     = 4
)

type simVCPU struct {
	v      *VCPU
	id     int
	pcpu   int // -1 while not on a PCPU
	last   int // last PCPU, for migration counting
	thread int // -1 while no thread is on it
}

type simThread struct {
	t     *Thread
	page  *ThreadPage
	vcpu  int // -1 while off every VCPU
	truth [MaxCounters]uint64
	src   [MaxCounters]int
	open  int
	en    [MaxCounters]bool
}

type world struct {
	rng     *rand.Rand
	phys    [][nSrc]uint64 // per PCPU
	holder  []int          // per PCPU: VCPU on it or -1
	vcpus   []*simVCPU
	threads []*simThread
	vpages  []VCPUPage

	steps, migrations, switches, exits int
	// check makes every step verify the VMM-side value of every thread.
	check func(format string, args ...any)
	// vmm, when set, runs whenever the VMM has control of a VCPU (in an
	// exit, before its work); onReset before a counter is reset, with
	// its truth still in place (overflow_test.go).
	vmm     func(sv *simVCPU)
	onReset func(ti, k int)
}

const vcpuBase = 0x7f0000000000

func newWorld(seed uint64, npcpu, nvcpu, nthread int) *world {
	w := &world{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	w.phys = make([][nSrc]uint64, npcpu)
	w.holder = make([]int, npcpu)
	for p := range w.phys {
		w.holder[p] = -1
		// Start the narrow counters near their wrap point and the TSCs at
		// unrelated bases, as unsynchronized PCPUs would have them.
		w.phys[p][srcTSC] = w.rng.Uint64() >> 2
		w.phys[p][srcPMC48] = 1<<48 - 1 - w.rng.Uint64N(1<<20)
		w.phys[p][srcPMC40] = 1<<40 - 1 - w.rng.Uint64N(1<<16)
	}
	w.vpages = make([]VCPUPage, nvcpu)
	for i := range nvcpu {
		v := NewVCPU(&w.vpages[i], uint32(i))
		mustNil(v.SetSource(srcTSC, SourceTSC, 64, 0))
		mustNil(v.SetSource(srcPMC48, SourceRDPMC, 48, 0))
		mustNil(v.SetSource(srcPMC40, SourceRDPMC, 40, 1))
		mustNil(v.SetSource(srcVMM, SourceVMM, 64, 0))
		w.vcpus = append(w.vcpus, &simVCPU{v: v, id: i, pcpu: -1, last: -1, thread: -1})
	}
	for i := range nthread {
		st := &simThread{page: new(ThreadPage), vcpu: -1}
		st.t = NewThread(st.page, 0x7e0000000000+uint64(i)*PageSize, uint32(100+i), vcpuBase)
		// Every thread counts every source; slot k counts source k%nSrc,
		// some enabled from the start, some not.
		n := 1 + w.rng.IntN(MaxCounters)
		for k := range n {
			en := w.rng.IntN(4) != 0
			mustNil(st.t.Open(k, k%nSrc, uint64(1000+k), en, nil))
			st.src[k], st.en[k] = k%nSrc, en
		}
		st.open = n
		w.threads = append(w.threads, st)
	}
	return w
}

func mustNil(err error) {
	if err != nil {
		panic(err)
	}
}

// physOn returns a PhysFunc reading PCPU p's counters.
func (w *world) physOn(p int) PhysFunc {
	return func(src int, s *SourceSlot) uint64 {
		if p < 0 {
			panic(fmt.Sprintf("phys read of source %d with the VCPU on no PCPU", src))
		}
		return mask(w.phys[p][src], s.Width)
	}
}

// tick advances every PCPU's counters; the thread running in guest mode
// there, if any, is credited on its enabled counters.
func (w *world) tick() {
	for p := range w.phys {
		var d [nSrc]uint64
		for s := range srcVMM {
			d[s] = w.rng.Uint64N(5000)
			w.phys[p][s] += d[s]
		}
		v := w.holder[p]
		if v < 0 || !w.vcpus[v].v.InGuest() || w.vcpus[v].thread < 0 {
			continue
		}
		st := w.threads[w.vcpus[v].thread]
		for k := range st.open {
			if st.en[k] {
				st.truth[k] += d[st.src[k]]
			}
		}
	}
}

// exit takes VCPU v out of guest mode, as a VM exit does.
func (w *world) exit(sv *simVCPU) {
	sv.v.Exit(w.physOn(sv.pcpu))
	w.exits++
	// Host activity during the exit: the PCPU counts, nobody is credited.
	for s := range srcVMM {
		w.phys[sv.pcpu][s] += w.rng.Uint64N(300)
	}
}

// enter puts VCPU v back in guest mode if it has a thread.
func (w *world) enter(sv *simVCPU) {
	if sv.thread >= 0 && sv.pcpu >= 0 && !sv.v.InGuest() {
		sv.v.Enter(uint32(sv.pcpu), w.physOn(sv.pcpu))
	}
}

// vmmWork is what the VMM does in an exit of a VCPU that holds a PCPU:
// tallies, counter control calls, a thread switch.
func (w *world) vmmWork(sv *simVCPU) {
	phys := w.physOn(sv.pcpu)
	if w.vmm != nil {
		w.vmm(sv)
	}
	if sv.thread >= 0 {
		st := w.threads[sv.thread]
		if w.rng.IntN(2) == 0 { // a tallied event, such as a syscall
			n := 1 + w.rng.Uint64N(3)
			sv.v.Add(srcVMM, n)
			for k := range st.open {
				if st.en[k] && st.src[k] == srcVMM {
					st.truth[k] += n
				}
			}
		}
		if w.rng.IntN(8) == 0 { // a paravirtual control call
			k := w.rng.IntN(st.open)
			switch w.rng.IntN(3) {
			case 0:
				mustNil(st.t.Enable(k, phys))
				st.en[k] = true
			case 1:
				mustNil(st.t.Disable(k, phys))
				st.en[k] = false
			case 2:
				if w.onReset != nil {
					w.onReset(sv.thread, k)
				}
				mustNil(st.t.Reset(k, phys))
				st.truth[k] = 0
			}
		}
	}
	if w.rng.IntN(3) == 0 { // thread switch
		if sv.thread >= 0 {
			st := w.threads[sv.thread]
			st.t.SwitchOut(phys)
			st.vcpu, sv.thread = -1, -1
			w.switches++
		}
		if cand := w.idleThreads(); len(cand) > 0 && w.rng.IntN(4) != 0 {
			w.switchIn(sv, cand[w.rng.IntN(len(cand))])
		}
	}
}

func (w *world) switchIn(sv *simVCPU, ti int) {
	st := w.threads[ti]
	st.t.SwitchIn(sv.v, w.physOn(sv.pcpu))
	st.vcpu, sv.thread = sv.id, ti
	w.switches++
}

func (w *world) idleThreads() []int {
	var out []int
	for i, st := range w.threads {
		if st.vcpu < 0 {
			out = append(out, i)
		}
	}
	return out
}

// place puts a VCPU that holds no PCPU onto free PCPU p.
func (w *world) place(sv *simVCPU, p int) {
	w.holder[p], sv.pcpu = sv.id, p
	if sv.last >= 0 && sv.last != p {
		w.migrations++
	}
	sv.last = p
}

// unplace takes an out-of-guest VCPU off its PCPU.
func (w *world) unplace(sv *simVCPU) {
	w.holder[sv.pcpu], sv.pcpu = -1, -1
}

// step performs one random scheduling action.
func (w *world) step() {
	w.steps++
	switch w.rng.IntN(6) {
	case 0, 1:
		w.tick()
	case 2: // a VM exit, VMM work, and re-entry or descheduling
		sv := w.vcpus[w.rng.IntN(len(w.vcpus))]
		if sv.pcpu < 0 {
			break
		}
		if sv.v.InGuest() {
			w.exit(sv)
		}
		w.vmmWork(sv)
		if w.rng.IntN(3) == 0 {
			w.unplace(sv)
		} else {
			w.enter(sv)
		}
	case 3: // a VCPU switch: an unplaced VCPU takes a free PCPU
		sv := w.vcpus[w.rng.IntN(len(w.vcpus))]
		if sv.pcpu >= 0 {
			break
		}
		var free []int
		for p, h := range w.holder {
			if h < 0 {
				free = append(free, p)
			}
		}
		if len(free) == 0 {
			break
		}
		w.place(sv, free[w.rng.IntN(len(free))])
		if sv.thread < 0 {
			if cand := w.idleThreads(); len(cand) > 0 {
				w.switchIn(sv, cand[w.rng.IntN(len(cand))])
			}
		}
		w.enter(sv)
	case 4: // preemption of a VCPU in guest mode: exit and deschedule
		sv := w.vcpus[w.rng.IntN(len(w.vcpus))]
		if sv.pcpu >= 0 && sv.v.InGuest() {
			w.exit(sv)
			w.unplace(sv)
		}
	case 5:
		w.tick()
	}
	if w.check != nil {
		w.verifyAll()
	}
}

// verifyAll compares the VMM's view of every counter with ground truth.
func (w *world) verifyAll() {
	for ti, st := range w.threads {
		p := -1
		if st.vcpu >= 0 {
			p = w.vcpus[st.vcpu].pcpu
		}
		for k := range st.open {
			got, err := st.t.Value(k, w.physOn(p))
			if err != nil {
				w.check("thread %d slot %d: %v", ti, k, err)
			}
			if got != st.truth[k] {
				w.check("step %d: thread %d slot %d (source %d, enabled %v): VMM value %d, truth %d",
					w.steps, ti, k, st.src[k], st.en[k], got, st.truth[k])
			}
		}
	}
}

// runThread makes thread ti run in guest mode, by the shortest series of
// scheduling actions, so that a reader on it can take its next step.
func (w *world) runThread(ti int) {
	st := w.threads[ti]
	for guard := 0; ; guard++ {
		if guard > 100 {
			panic("runThread: no progress")
		}
		if st.vcpu >= 0 {
			sv := w.vcpus[st.vcpu]
			if sv.pcpu >= 0 && sv.v.InGuest() {
				return
			}
			if sv.pcpu >= 0 {
				w.enter(sv)
				continue
			}
			w.placeSomewhere(sv)
			continue
		}
		// Find a VCPU for the thread: one on a PCPU, out of guest mode,
		// else make one so.
		var sv *simVCPU
		for _, c := range w.vcpus {
			if c.pcpu >= 0 && !c.v.InGuest() {
				sv = c
				break
			}
		}
		if sv == nil {
			for _, c := range w.vcpus {
				if c.pcpu >= 0 {
					w.exit(c)
					sv = c
					break
				}
			}
		}
		if sv == nil {
			sv = w.vcpus[w.rng.IntN(len(w.vcpus))]
			w.placeSomewhere(sv)
			continue
		}
		if sv.thread >= 0 {
			o := w.threads[sv.thread]
			o.t.SwitchOut(w.physOn(sv.pcpu))
			o.vcpu, sv.thread = -1, -1
		}
		w.switchIn(sv, ti)
	}
}

// placeSomewhere puts VCPU sv on a PCPU, preempting another if all are
// taken.
func (w *world) placeSomewhere(sv *simVCPU) {
	for p, h := range w.holder {
		if h < 0 {
			w.place(sv, p)
			return
		}
	}
	p := w.rng.IntN(len(w.holder))
	o := w.vcpus[w.holder[p]]
	if o.v.InGuest() {
		w.exit(o)
	}
	w.unplace(o)
	w.place(sv, p)
}

// readerEnv runs the read algorithm as guest code of thread reader:
// before every load and every physical read, the world takes random
// scheduling steps (preemption, switches, migrations), and then the
// reader's thread runs again.
type readerEnv struct {
	w      *world
	reader int
	// Before each step of the reader, with probability 1/every, the
	// world takes one to three scheduling steps.
	every int
	// snaps holds, for each physical read in call order, the source and
	// ground truth of the reader's slots at that moment.
	snaps []physSnap
	atSeq [MaxCounters]uint64
	loads int
}

func (e *readerEnv) interleave() {
	e.loads++
	if e.w.rng.IntN(e.every) == 0 {
		for range 1 + e.w.rng.IntN(3) {
			e.w.step()
		}
	}
	e.w.runThread(e.reader)
}

func (e *readerEnv) Load32(p *uint32) uint32 {
	e.interleave()
	for i := range e.w.vpages {
		if p == &e.w.vpages[i].Seq {
			// A read is a snapshot as of its last check of the VCPU
			// page: VMM-kept sources are compared with truth then.
			e.atSeq = e.w.threads[e.reader].truth
		}
	}
	return atomic.LoadUint32(p)
}
func (e *readerEnv) Load64(p *uint64) uint64 { e.interleave(); return atomic.LoadUint64(p) }

func (e *readerEnv) Phys(kind SourceKind, index uint32) uint64 {
	e.interleave()
	src := srcTSC
	if kind == SourceRDPMC {
		src = srcPMC48 + int(index)
	}
	st := e.w.threads[e.reader]
	p := e.w.vcpus[st.vcpu].pcpu
	e.snaps = append(e.snaps, physSnap{src: src, truth: st.truth})
	// The instruction returns the register, as wide as the counter.
	return mask(e.w.phys[p][src], e.w.vpages[st.vcpu].Sources[src].Width)
}

type physSnap struct {
	src   int
	truth [MaxCounters]uint64
}

func (e *readerEnv) VCPUPage(base uint64, id uint32) (*VCPUPage, error) {
	e.interleave()
	if base != vcpuBase || int(id) >= len(e.w.vpages) {
		return nil, fmt.Errorf("bad VCPU page %#x/%d", base, id)
	}
	return &e.w.vpages[id], nil
}
