package hypervisor

import (
	"fmt"
	"os"
	"strings"

	"github.com/vpmu/vpmu/internal/unix"
)

// Contents of the emulated /proc/self files, made when they are opened.

// procMaps is /proc/self/maps, from the VMA table: the guest's mappings
// only (the VMM area is outside every VMA).
func (p *Process) procMaps() []byte {
	var b strings.Builder
	m := p.mm
	m.mu.RLock()
	vmas := append([]vma(nil), m.vmas.v...)
	m.mu.RUnlock()
	for _, v := range vmas {
		perm := []byte("---p")
		if v.prot&unix.PROT_READ != 0 {
			perm[0] = 'r'
		}
		if v.prot&unix.PROT_WRITE != 0 {
			perm[1] = 'w'
		}
		if v.prot&unix.PROT_EXEC != 0 {
			perm[2] = 'x'
		}
		if v.shared {
			perm[3] = 's'
		}
		off := uint64(0)
		if strings.HasPrefix(v.name, "/") {
			off = v.off
		}
		line := fmt.Sprintf("%08x-%08x %s %08x 00:00 0 ", v.start, v.end, perm, off)
		if v.name != "" {
			// Linux pads the fixed columns to 73 characters.
			line += strings.Repeat(" ", max(0, 73-len(line))) + v.name
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// procStatus is /proc/self/status (or task/<tid>/status), with the
// fields programs look for.
func (t *Thread) procStatus(id int, thread bool) []byte {
	p := t.proc
	p.mu.Lock()
	nthreads := len(p.threads)
	p.mu.Unlock()
	pid := p.pid
	if thread {
		pid = id
	}
	mem := p.mm.Stats()
	uid, gid := unix.Getuid(), unix.Getgid()
	n := len(p.vm.vcpus)
	var b strings.Builder
	fmt.Fprintf(&b, "Name:\t%s\n", t.comm(id))
	fmt.Fprintf(&b, "Umask:\t%04o\n", p.fds.umask.Load())
	fmt.Fprintf(&b, "State:\tR (running)\n")
	fmt.Fprintf(&b, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", p.pid, pid, guestPPID)
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid, gid, gid, gid, gid)
	fmt.Fprintf(&b, "FDSize:\t%d\nGroups:\t\n", maxFDs)
	fmt.Fprintf(&b, "VmSize:\t%8d kB\nVmRSS:\t%8d kB\n", mem.Committed>>10, mem.BoundPages*pageSize>>10)
	fmt.Fprintf(&b, "Threads:\t%d\n", nthreads)
	fmt.Fprintf(&b, "Cpus_allowed:\t%x\n", uint64(1)<<n-1)
	if n > 1 {
		fmt.Fprintf(&b, "Cpus_allowed_list:\t0-%d\n", n-1)
	} else {
		fmt.Fprintf(&b, "Cpus_allowed_list:\t0\n")
	}
	return []byte(b.String())
}

// procStat is /proc/self/stat: the 52 fields of proc(5), with the ones
// the VMM knows (pid, name, parent, threads, CPU time, virtual size)
// and zero for the rest.
func (t *Thread) procStat(id int) []byte {
	p := t.proc
	p.mu.Lock()
	nthreads := len(p.threads)
	var cpu int64
	if th := p.threads[id]; th != nil && id != p.pid {
		cpu = th.cpuNanos.Load()
	}
	p.mu.Unlock()
	if id == p.pid {
		cpu = p.cpuNanos()
	}
	ticks := cpu / 1e7 // USER_HZ = 100
	vsize := p.mm.Stats().Committed
	f := make([]any, 0, 52)
	f = append(f, id, "("+t.comm(id)+")", "R", guestPPID, p.pid, p.pid, 0, -1, 0, // pid comm state ppid pgrp session tty tpgid flags
		0, 0, 0, 0, ticks, 0, 0, 0, 20, 0, nthreads, 0, 0, // faults, utime stime cutime cstime priority nice threads itrealvalue starttime
		vsize, 0, uint64(rlimInfinity), 0, 0, 0, 0, 0, // vsize rss rsslim startcode endcode startstack kstkesp kstkeip
		0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, // signal blocked sigignore sigcatch wchan nswap cnswap exit_signal processor rt_priority policy blkio guest_time cguest_time
		0, 0, 0, 0, 0, 0, 0, 0) // start_data end_data start_brk arg_start arg_end env_start env_end exit_code
	var b strings.Builder
	for i, v := range f {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, v)
	}
	b.WriteByte('\n')
	return []byte(b.String())
}

// hostMounts is the mount table (mounts or mountinfo): the guest sees the
// host's file system, so it sees the host's mounts.
func hostMounts(name string) []byte {
	b, err := os.ReadFile("/proc/self/" + name)
	if err != nil {
		return nil
	}
	return b
}
