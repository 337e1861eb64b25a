package profiler

import "fmt"

// Processes tracks, per process and thread, what samples need to be
// resolved: each process's address space and each thread's name. It is
// fed by MMAP, COMM and FORK events (or /proc/PID/maps for processes that
// were running before recording began) and keyed by VM and id, since
// guest ids and host ids are separate namespaces.
//
// Exited processes and threads are kept: with a ring buffer per CPU,
// samples of a thread can be read after its EXIT record. A later FORK or
// exec reusing the id replaces them.
//
// A Processes is not safe for concurrent use.
type Processes struct {
	procs   map[idKey]*process
	threads map[idKey]string // thread name by (VM, TID)
	// readProc enables reading /proc/PID/maps for host processes with
	// no known mappings; tried records the PIDs already tried.
	readProc bool
	tried    map[int]bool
	// procErrs counts failures to read /proc/PID/maps.
	procErrs []error
}

type idKey struct {
	vm string
	id int
}

type process struct {
	comm  string
	space *AddressSpace
}

// NewProcesses returns an empty table. With readProcMaps, a host process
// (VM "") that has no mappings when a sample of it is resolved gets
// /proc/PID/maps read, once.
func NewProcesses(readProcMaps bool) *Processes {
	return &Processes{
		procs:    make(map[idKey]*process),
		threads:  make(map[idKey]string),
		readProc: readProcMaps,
		tried:    make(map[int]bool),
	}
}

func (p *Processes) proc(vm string, pid int) *process {
	k := idKey{vm, pid}
	pr, ok := p.procs[k]
	if !ok {
		pr = &process{space: &AddressSpace{}}
		p.procs[k] = pr
	}
	return pr
}

// Mmap adds a mapping to a process.
func (p *Processes) Mmap(vm string, pid int, m Mapping) error {
	if err := p.proc(vm, pid).space.Map(m); err != nil {
		return fmt.Errorf("process %d: %w", pid, err)
	}
	return nil
}

// SetMappings replaces a process's address space, for example with
// [ReadProcMaps] of a process that was running before recording began.
func (p *Processes) SetMappings(vm string, pid int, maps []Mapping) error {
	space := &AddressSpace{}
	for _, m := range maps {
		if err := space.Map(m); err != nil {
			return fmt.Errorf("process %d: %w", pid, err)
		}
	}
	p.proc(vm, pid).space = space
	return nil
}

// Comm names a thread; a thread whose TID is the PID names the process.
// With exec, the process's address space starts empty: the kernel
// reports the new image's mappings after this event.
func (p *Processes) Comm(vm string, pid, tid int, comm string, exec bool) {
	p.threads[idKey{vm, tid}] = comm
	pr := p.proc(vm, pid)
	if tid == pid || pr.comm == "" {
		pr.comm = comm
	}
	if exec {
		pr.space = &AddressSpace{}
		pr.comm = comm
	}
}

// Fork records a new thread (pid == ppid) or process. A new process
// starts with a copy of its parent's address space; a new thread shares
// its process's. Either inherits the creating thread's name.
func (p *Processes) Fork(vm string, pid, ppid, tid, ptid int) {
	name, ok := p.threads[idKey{vm, ptid}]
	if !ok {
		if parent, ok := p.procs[idKey{vm, ppid}]; ok {
			name = parent.comm
		}
	}
	if name != "" {
		p.threads[idKey{vm, tid}] = name
	}
	if pid == ppid {
		return
	}
	child := &process{comm: name, space: &AddressSpace{}}
	if parent, ok := p.procs[idKey{vm, ppid}]; ok {
		child.space = parent.space.Clone()
		if child.comm == "" {
			child.comm = parent.comm
		}
	}
	p.procs[idKey{vm, pid}] = child
}

// Find returns the mapping holding addr in a process.
func (p *Processes) Find(vm string, pid int, addr uint64) (Mapping, bool) {
	pr := p.space(vm, pid)
	if pr == nil {
		return Mapping{}, false
	}
	return pr.Find(addr)
}

// space returns a process's address space, or nil if nothing is known
// about it. For a host process without mappings it first reads
// /proc/PID/maps when the table was made to.
func (p *Processes) space(vm string, pid int) *AddressSpace {
	pr, ok := p.procs[idKey{vm, pid}]
	if (!ok || pr.space.Len() == 0) && vm == "" && p.readProc && pid > 0 && !p.tried[pid] {
		p.tried[pid] = true
		maps, err := ReadProcMaps(pid)
		if err != nil {
			p.procErrs = append(p.procErrs, err)
		} else if err := p.SetMappings("", pid, maps); err != nil {
			p.procErrs = append(p.procErrs, err)
		}
		pr, ok = p.procs[idKey{vm, pid}]
	}
	if !ok {
		return nil
	}
	return pr.space
}

// ThreadName returns the name of a thread: its own COMM, else its
// process's, else "".
func (p *Processes) ThreadName(vm string, pid, tid int) string {
	if n, ok := p.threads[idKey{vm, tid}]; ok {
		return n
	}
	if pr, ok := p.procs[idKey{vm, pid}]; ok {
		return pr.comm
	}
	return ""
}

// mainFile returns the executable of a process, or "".
func (p *Processes) mainFile(vm string, pid int) string {
	if pr, ok := p.procs[idKey{vm, pid}]; ok {
		return pr.space.mainFile()
	}
	return ""
}

// Errors returns the failures met reading /proc/PID/maps.
func (p *Processes) Errors() []error { return p.procErrs }
