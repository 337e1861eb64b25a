package hypervisor

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vpmu/vpmu/hypervisor/kvm"
	"github.com/vpmu/vpmu/internal/unix"
)

// load maps the program at path (and its interpreter) into the process's
// address space, builds the initial stack and returns the main thread,
// ready to run.
func (p *Process) load(path string, argv, envp []string) (*Thread, error) {
	p.exe = fileName(path)
	mainPlan, bias, err := p.loadELF(path, false)
	if err != nil {
		return nil, err
	}
	entry := mainPlan.entry + bias
	var interpBase uint64
	if mainPlan.interp != "" {
		ip, ibias, err := p.loadELF(mainPlan.interp, true)
		if err != nil {
			var le *LoadError
			if errors.As(err, &le) {
				return nil, &LoadError{Path: path, Err: fmt.Errorf("%w %s: %w", ErrInterpreter, mainPlan.interp, le.Err)}
			}
			return nil, err
		}
		interpBase, entry = ibias+ip.lo, ip.entry+ibias
	}
	brk, _ := pageUp(mainPlan.hi + bias)
	p.mm.setBrk(brk)

	// The stack: mapped whole, as the VMM does not grow it on faults.
	stackProt := unix.PROT_READ | unix.PROT_WRITE
	if mainPlan.execStack {
		stackProt |= unix.PROT_EXEC
	}
	if _, err := p.mm.Mmap(mmapRequest{addr: stackTop - defaultStackSize, length: defaultStackSize, prot: stackProt,
		flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED, name: "[stack]"}); err != nil {
		return nil, fmt.Errorf("map the stack: %w", err)
	}
	host := hostAuxv()
	spec := stackSpec{argv: argv, envp: envp, execfn: path, platform: "x86_64"}
	if _, err := rand.Read(spec.random[:]); err != nil {
		return nil, err
	}
	minsig := host[atMinsigstksz]
	if minsig == 0 {
		minsig = 2048
	}
	clktck := host[atClktck]
	if clktck == 0 {
		clktck = 100
	}
	spec.auxv = []auxEntry{
		{atMinsigstksz, minsig},
		{atHwcap, host[atHwcap]},
		{atPagesz, pageSize},
		{atClktck, clktck},
		{atPhdr, mainPlan.phdrVaddr + bias},
		{atPhent, elfPhdrSize},
		{atPhnum, uint64(mainPlan.phnum)},
		{atBase, interpBase},
		{atFlags, 0},
		{atEntry, mainPlan.entry + bias},
		{atUID, uint64(unix.Getuid())},
		{atEUID, uint64(unix.Geteuid())},
		{atGID, uint64(unix.Getgid())},
		{atEGID, uint64(unix.Getegid())},
		{atSecure, 0},
		{atHwcap2, host[atHwcap2]},
	}
	img, sp, err := buildStack(stackTop, spec)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	if err := p.mm.poke(sp, img); err != nil {
		return nil, err
	}
	p.saveStartInfo(argv, envp, img)
	ctx := threadContext{regs: regsAtEntry(entry, sp)}
	return p.newThread(ctx), nil
}

// regsAtEntry are the registers a new program starts with: all zero but
// RIP, RSP and RFLAGS (RDX = 0 tells the program there is no atexit
// function from the loader).
func regsAtEntry(entry, sp uint64) (r kvm.Regs) {
	r.RIP, r.RSP, r.RFLAGS = entry, sp, userRflags
	return r
}

// loadELF maps one ELF file. The main program goes at its own addresses
// (ET_EXEC) or at etDynBase (ET_DYN); an interpreter goes wherever mmap
// puts it. It returns the plan and the load bias.
func (p *Process) loadELF(path string, interp bool) (*elfPlan, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, &LoadError{Path: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, &LoadError{Path: path, Err: err}
	}
	if st.IsDir() {
		return nil, 0, &LoadError{Path: path, Err: fmt.Errorf("%w: is a directory", ErrNotELF)}
	}
	if !st.Mode().IsRegular() {
		return nil, 0, &LoadError{Path: path, Err: fmt.Errorf("%w: not a regular file", ErrNotELF)}
	}
	plan, err := parseELF(f, st.Size())
	if err != nil {
		return nil, 0, &LoadError{Path: path, Err: err}
	}
	if interp && plan.interp != "" {
		return nil, 0, &LoadError{Path: path, Err: fmt.Errorf("%w: the interpreter itself has an interpreter", ErrBadELF)}
	}
	var bias uint64
	if plan.dyn {
		base := uint64(etDynBase)
		if interp {
			// Reserve the span where mmap would place it.
			a, err := p.mm.Mmap(mmapRequest{length: plan.hi - plan.lo, prot: unix.PROT_NONE, flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS})
			if err != nil {
				return nil, 0, &LoadError{Path: path, Err: fmt.Errorf("no room for %d bytes: %w", plan.hi-plan.lo, err)}
			}
			base = a
		}
		bias = base - plan.lo
	}
	name := fileName(path)
	for _, s := range plan.segs {
		if err := p.mapSegment(f, s, bias, name); err != nil {
			return nil, 0, &LoadError{Path: path, Err: err}
		}
	}
	return plan, bias, nil
}

// fileName is the name Linux gives a file mapping of path (and
// /proc/self/exe): absolute, with symbolic links resolved. A path that
// does not resolve keeps its absolute form.
func fileName(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		return resolved
	}
	return abs
}

// mapSegment maps one PT_LOAD as Linux does: whole pages of the file
// from the page holding the segment's start, zero past the file size, and
// anonymous zero pages up to the memory size.
func (p *Process) mapSegment(f io.ReaderAt, s elfSegment, bias uint64, name string) error {
	start := pageDown(s.vaddr + bias)
	end, _ := pageUp(s.vaddr + bias + s.memsz)
	if end == start {
		return nil
	}
	lead := s.vaddr + bias - start
	// The VMA records the file offset of start, as Linux's mapping of
	// the segment would (/proc/self/maps, and profiles name code by it).
	// The pages get their final protection at once (poke ignores it), so
	// that no mprotect has to take access away; a PROT_NONE segment is
	// mapped accessible first, to bind pages for its contents.
	prot := s.prot
	if prot == unix.PROT_NONE {
		prot = unix.PROT_READ | unix.PROT_WRITE
	}
	if _, err := p.mm.Mmap(mmapRequest{addr: start, length: end - start, prot: prot,
		flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED, name: name, off: s.off - lead}); err != nil {
		return fmt.Errorf("map segment at %#x: %w", start, err)
	}
	data := make([]byte, lead+s.filesz)
	if _, err := f.ReadAt(data, int64(s.off-lead)); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read segment at offset %#x: %w", s.off, err)
	}
	if err := p.mm.poke(start, data); err != nil {
		return err
	}
	if prot != s.prot {
		if err := p.mm.Mprotect(start, end-start, s.prot); err != nil {
			return fmt.Errorf("protect segment at %#x: %w", start, err)
		}
	}
	return nil
}
