package hypervisor

import (
	"encoding/binary"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// The memory cap (Config.MemBytes, vpmu run --mem): MM refuses mappings
// beyond it with ENOMEM, which the guest's allocator turns into its own
// error (malloc returns NULL; Go's runtime says "fatal error: out of
// memory"). The first refusal is reported, so that the user learns why.

// noteMemErr reports an ENOMEM from op (mmap, mprotect, brk) of size
// bytes if it came from the cap, and returns err.
func (t *Thread) noteMemErr(err error, op string, size uint64) error {
	if err != unix.ENOMEM {
		return err
	}
	s := t.proc.mm.Stats()
	if s.Limit == 0 || s.Committed+size <= s.Limit {
		return err // out of address space, not over the cap
	}
	return t.sandbox().deny(DenyMemory, fmt.Sprintf("guest memory limit reached: %s of %s refused with ENOMEM, %s of the %s limit in use (raise --mem)",
		op, sizeString(size), sizeString(s.Committed), sizeString(s.Limit)), err)
}

// brk is brk(2) with a refusal over the cap reported.
func (t *Thread) brk(addr uint64) uint64 {
	old := t.proc.mm.Brk(0)
	got := t.proc.mm.Brk(addr)
	if addr > got && got == old {
		oldEnd, _ := pageUp(old)
		newEnd, _ := pageUp(addr)
		t.noteMemErr(unix.ENOMEM, "brk", newEnd-oldEnd)
	}
	return got
}

// sizeString formats a byte count in binary units.
func sizeString(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func init() { registerSyscall(sysSysinfo, sysSysinfoFn) }

// sysinfoSize is sizeof(struct sysinfo) on x86-64.
const sysinfoSize = 112

// sysSysinfoFn answers sysinfo(2) with the guest's memory: total RAM is
// the cap, free RAM what is left of it, and there is no swap. Uptime and
// load averages are the host's.
func sysSysinfoFn(t *Thread, a SyscallArgs) (uint64, error) {
	var host unix.Sysinfo_t
	if err := unix.Sysinfo(&host); err != nil {
		return 0, err
	}
	mem := t.proc.mm.Stats()
	total := t.proc.vm.cfg.MemBytes
	t.proc.mu.Lock()
	procs := len(t.proc.threads)
	t.proc.mu.Unlock()
	b := make([]byte, sysinfoSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(host.Uptime))
	for i, l := range host.Loads {
		le.PutUint64(b[8+8*i:], l)
	}
	le.PutUint64(b[32:], total)
	le.PutUint64(b[40:], total-min(total, mem.Committed))
	le.PutUint16(b[80:], uint16(procs))
	le.PutUint32(b[104:], 1) // mem_unit
	return 0, t.proc.mm.CopyOut(a[0], b)
}
