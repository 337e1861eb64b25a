package hypervisor

import (
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/vpmu/vpmu/internal/unix"
)

// The emulated part of the file system, matched on the lexical path
// before the host is asked: the guest's /proc/self (also spelled
// /proc/thread-self, /proc/<guest pid> and /proc/<guest tid>),
// /dev/stdin, /dev/stdout, /dev/stderr and /dev/fd, and the CPU lists
// under /sys/devices/system/cpu. Nothing here shows the VMM's process.

// emuKind is what an emulated node is.
type emuKind int

const (
	emuFile    emuKind = iota // contents made up when opened
	emuDir                    // a listing
	emuSymlink                // a link to another path
	emuFD                     // /proc/self/fd/N followed: guest fd N itself
)

// emuNode is an emulated object named by a path.
type emuNode struct {
	kind emuKind
	path string // the lexical path
	// target is a symlink's text.
	target string
	// content makes a file's contents; entries lists a directory.
	content func() []byte
	entries func() []dirEntry
	// fd is the guest fd of an emuFD node.
	fd int
}

// emuStat is the struct stat of an emulated node (emuFD nodes are
// stat'ed through their file).
func (t *Thread) emuStat(e *emuNode) unix.Stat_t {
	st := unix.Stat_t{Dev: procDev(), Ino: emuIno(e.path), Nlink: 1, Blksize: 1024,
		Uid: uint32(unix.Getuid()), Gid: uint32(unix.Getgid())}
	switch e.kind {
	case emuDir:
		st.Mode, st.Nlink = unix.S_IFDIR|0o555, 2
	case emuSymlink:
		st.Mode, st.Size = unix.S_IFLNK|0o777, int64(len(e.target))
	default:
		st.Mode = unix.S_IFREG | 0o444
	}
	return st
}

// emulated matches the lexical path lex against the emulated tree. It
// returns the node; or a host path to look up instead (a followed
// symlink such as /proc/self/exe); or an error (ENOENT for a name that
// does not exist in an emulated directory); or nothing, when lex is not
// emulated.
func (t *Thread) emulated(lex string, follow bool) (*emuNode, string, error) {
	p := t.proc
	switch {
	case lex == "/dev/stdin", lex == "/dev/stdout", lex == "/dev/stderr":
		fd := slices.Index([]string{"/dev/stdin", "/dev/stdout", "/dev/stderr"}, lex)
		target := "/proc/self/fd/" + strconv.Itoa(fd)
		if !follow {
			return &emuNode{kind: emuSymlink, path: lex, target: target}, "", nil
		}
		return nil, target, nil
	case lex == "/dev/fd":
		if !follow {
			return &emuNode{kind: emuSymlink, path: lex, target: "/proc/self/fd"}, "", nil
		}
		return nil, "/proc/self/fd", nil
	case strings.HasPrefix(lex, "/dev/fd/"):
		return nil, "/proc/self/fd/" + lex[len("/dev/fd/"):], nil
	case strings.HasPrefix(lex, "/sys/devices/system/cpu/"):
		switch name := lex[len("/sys/devices/system/cpu/"):]; name {
		case "online", "possible", "present":
			n := len(p.vm.vcpus)
			list := "0\n"
			if n > 1 {
				list = fmt.Sprintf("0-%d\n", n-1)
			}
			return &emuNode{kind: emuFile, path: lex, content: func() []byte { return []byte(list) }}, "", nil
		}
		return nil, "", nil
	case !strings.HasPrefix(lex, "/proc/"):
		return nil, "", nil
	}
	first, rest, _ := strings.Cut(lex[len("/proc/"):], "/")
	switch first {
	case "self":
		if rest == "" && !follow {
			return &emuNode{kind: emuSymlink, path: lex, target: strconv.Itoa(p.pid)}, "", nil
		}
		return t.procPID(p.pid, false, "/proc/"+strconv.Itoa(p.pid), rest, follow)
	case "thread-self":
		target := fmt.Sprintf("%d/task/%d", p.pid, t.tid)
		if rest == "" && !follow {
			return &emuNode{kind: emuSymlink, path: lex, target: target}, "", nil
		}
		return t.procPID(t.tid, true, "/proc/"+target, rest, follow)
	}
	n, err := strconv.Atoi(first)
	switch {
	case err != nil || first != strconv.Itoa(n):
		return nil, "", nil
	case n == p.pid:
		return t.procPID(n, false, "/proc/"+first, rest, follow)
	case p.thread(n) != nil:
		return t.procPID(n, true, "/proc/"+first, rest, follow)
	}
	return nil, "", nil
}

// pidEntries are the names in an emulated /proc/<pid> directory.
var pidEntries = []dirEntry{
	{name: "auxv", typ: dtReg}, {name: "cmdline", typ: dtReg}, {name: "comm", typ: dtReg},
	{name: "cwd", typ: dtLnk}, {name: "environ", typ: dtReg}, {name: "exe", typ: dtLnk},
	{name: "fd", typ: dtDir}, {name: "maps", typ: dtReg}, {name: "mountinfo", typ: dtReg},
	{name: "mounts", typ: dtReg}, {name: "root", typ: dtLnk}, {name: "stat", typ: dtReg},
	{name: "status", typ: dtReg}, {name: "task", typ: dtDir},
}

// procPID resolves rest inside the emulated /proc/<id> directory at dir:
// the process when thread is false, else the thread id (which shows the
// same process files, from that thread's point of view).
func (t *Thread) procPID(id int, thread bool, dir, rest string, follow bool) (*emuNode, string, error) {
	p := t.proc
	name, more, _ := strings.Cut(rest, "/")
	lex := dir
	if name != "" {
		lex += "/" + name
	}
	file := func(content func() []byte) (*emuNode, string, error) {
		if more != "" {
			return nil, "", unix.ENOTDIR
		}
		return &emuNode{kind: emuFile, path: lex, content: content}, "", nil
	}
	link := func(target string) (*emuNode, string, error) {
		if more == "" && !follow {
			return &emuNode{kind: emuSymlink, path: lex, target: target}, "", nil
		}
		if more != "" {
			target += "/" + more
		}
		return nil, target, nil
	}
	switch name {
	case "":
		return &emuNode{kind: emuDir, path: lex, entries: func() []dirEntry { return pidEntries }}, "", nil
	case "exe":
		return link(p.exe)
	case "cwd":
		return link(t.cwdPath())
	case "root":
		return link("/")
	case "cmdline":
		return file(func() []byte { return nulJoin(p.argv) })
	case "environ":
		return file(func() []byte { return nulJoin(p.envp) })
	case "auxv":
		return file(func() []byte { return p.auxv })
	case "maps":
		return file(p.procMaps)
	case "comm":
		return file(func() []byte { return []byte(t.comm(id) + "\n") })
	case "status":
		return file(func() []byte { return t.procStatus(id, thread) })
	case "stat":
		return file(func() []byte { return t.procStat(id) })
	case "mounts", "mountinfo":
		return file(func() []byte { return hostMounts(name) })
	case "fd":
		return t.procFD(lex, more, follow)
	case "task":
		if thread {
			return nil, "", unix.ENOENT
		}
		tid, sub, _ := strings.Cut(more, "/")
		if tid == "" {
			return &emuNode{kind: emuDir, path: lex, entries: p.taskEntries}, "", nil
		}
		n, err := strconv.Atoi(tid)
		if err != nil || p.thread(n) == nil {
			return nil, "", unix.ENOENT
		}
		return t.procPID(n, true, lex+"/"+tid, sub, follow)
	}
	return nil, "", unix.ENOENT
}

// procFD resolves /proc/<pid>/fd/...: rest is what follows "fd/".
func (t *Thread) procFD(lex, rest string, follow bool) (*emuNode, string, error) {
	fds := t.proc.fds
	if rest == "" {
		return &emuNode{kind: emuDir, path: lex, entries: func() []dirEntry {
			list := fds.list()
			slices.Sort(list)
			out := make([]dirEntry, len(list))
			for i, fd := range list {
				out[i] = dirEntry{name: strconv.Itoa(fd), typ: dtLnk}
			}
			return out
		}}, "", nil
	}
	name, more, _ := strings.Cut(rest, "/")
	fd, err := strconv.Atoi(name)
	if err != nil || name != strconv.Itoa(fd) {
		return nil, "", unix.ENOENT
	}
	of, err := fds.get(fd)
	if err != nil {
		return nil, "", unix.ENOENT
	}
	target := describeFile(of.File)
	of.decRef()
	lex += "/" + name
	switch {
	case more == "" && !follow:
		return &emuNode{kind: emuSymlink, path: lex, target: target}, "", nil
	case more == "":
		return &emuNode{kind: emuFD, path: lex, fd: fd}, "", nil
	case strings.HasPrefix(target, "/"):
		return nil, target + "/" + more, nil
	default:
		return nil, "", unix.ENOTDIR
	}
}

// describeFile is what readlink of /proc/self/fd/N shows.
func describeFile(f File) string {
	if d, ok := f.(interface{ fdPath() string }); ok {
		return d.fdPath()
	}
	return "anon_inode:[vpmu]"
}

// cwdPath is the working directory's real path.
func (t *Thread) cwdPath() string {
	of := t.proc.fds.getCwd()
	defer of.decRef()
	if hf, ok := of.File.(*hostFile); ok {
		if p, err := hostRealPath(hf.fd); err == nil {
			return p
		}
		return hf.path
	}
	return "/"
}

// nulJoin joins strings each followed by a NUL, as cmdline and environ.
func nulJoin(ss []string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return b
}

// saveStartInfo keeps argv, envp and the auxiliary vector the program
// started with (img is the initial stack image from buildStack, starting
// at argc) for /proc/self.
func (p *Process) saveStartInfo(argv, envp []string, img []byte) {
	p.argv, p.envp = argv, envp
	off := 8 * (1 + len(argv) + 1 + len(envp) + 1)
	for end := off; end+16 <= len(img); end += 16 {
		if binary.LittleEndian.Uint64(img[end:]) == atNull {
			p.auxv = append([]byte(nil), img[off:end+16]...)
			return
		}
	}
}

// comm is a thread's name: the calling thread's PR_SET_NAME name, or
// the program's file name (other threads' names belong to them).
func (t *Thread) comm(tid int) string {
	if tid == t.tid && t.name != "" {
		return t.name
	}
	name := path.Base(t.proc.exe)
	if len(name) > taskComm-1 {
		name = name[:taskComm-1]
	}
	return name
}

// taskEntries lists /proc/self/task: the live threads.
func (p *Process) taskEntries() []dirEntry {
	p.mu.Lock()
	tids := make([]int, 0, len(p.threads))
	for tid := range p.threads {
		tids = append(tids, tid)
	}
	p.mu.Unlock()
	slices.Sort(tids)
	out := make([]dirEntry, len(tids))
	for i, tid := range tids {
		out[i] = dirEntry{name: strconv.Itoa(tid), typ: dtDir}
	}
	return out
}
