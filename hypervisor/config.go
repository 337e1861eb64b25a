package hypervisor

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"time"
)

// Config describes a VM. The zero value of every field has a useful
// default (filled in by New).
type Config struct {
	// VCPUs is the number of virtual CPUs guest threads are scheduled on
	// (default 1, at most MaxVCPUs).
	VCPUs int
	// PCPUs is the number of PCPU slots the VCPUs are scheduled on: at
	// most this many VCPUs run guest code at once (default: VCPUs, capped
	// at the host's CPU count).
	PCPUs int
	// PinPCPUs pins each VCPU's OS thread to host CPU (slot mod NumCPU)
	// while it holds a slot.
	PinPCPUs bool
	// MemBytes caps the guest's committed memory: accessible (not
	// PROT_NONE) mappings, like overcommit_memory=2. Requests beyond it
	// fail with ENOMEM. Default 2 GiB.
	MemBytes uint64
	// RWDirs are host directories the guest may write in; everything else
	// is read-only.
	RWDirs []string
	// Dir is the guest's initial working directory (default: the host
	// process's).
	Dir string
	// Env is the guest's environment ("KEY=value").
	Env []string
	// Stdin, Stdout and Stderr are the guest's fds 0, 1 and 2. Nil
	// Stdin reads as empty; nil Stdout/Stderr discard. Writes are made
	// from the VCPU's thread, so a writer should not block for long.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Hooks observe thread and VCPU switches (nil: none).
	Hooks Hooks
	// VPMU configures the virtual PMU (on by default).
	VPMU VPMUConfig
	// Logger receives diagnostics such as unimplemented system calls
	// (nil: discard).
	Logger *slog.Logger
	// TimeSlice is how long a guest thread (or a VCPU, at the PCPU level)
	// runs before it is preempted in favour of a waiting one (default
	// 10ms).
	TimeSlice time.Duration
}

const (
	defaultMemBytes  = 2 << 30
	defaultTimeSlice = 10 * time.Millisecond
)

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.VCPUs == 0 {
		c.VCPUs = 1
	}
	if c.VCPUs < 0 || c.VCPUs > MaxVCPUs {
		return c, fmt.Errorf("config: VCPUs = %d, want 1 to %d", c.VCPUs, MaxVCPUs)
	}
	if c.PCPUs == 0 {
		c.PCPUs = min(c.VCPUs, runtime.NumCPU())
	}
	if c.PCPUs < 0 {
		return c, fmt.Errorf("config: PCPUs = %d, want at least 1", c.PCPUs)
	}
	if c.MemBytes == 0 {
		c.MemBytes = defaultMemBytes
	}
	if c.MemBytes < 1<<20 {
		return c, fmt.Errorf("config: MemBytes = %d, want at least 1 MiB", c.MemBytes)
	}
	if c.TimeSlice == 0 {
		c.TimeSlice = defaultTimeSlice
	}
	if c.TimeSlice < 0 {
		return c, fmt.Errorf("config: TimeSlice = %v, want a positive duration", c.TimeSlice)
	}
	if c.Hooks == nil {
		c.Hooks = NopHooks{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	rw := make([]string, 0, len(c.RWDirs))
	for _, d := range c.RWDirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return c, fmt.Errorf("config: writable directory %q: %w", d, err)
		}
		rw = append(rw, a)
	}
	c.RWDirs = rw
	return c, nil
}

// physSize is the guest-physical reservation for a committed cap: room
// for bindings that outlive their mappings (freed ranges are reused
// first, so steady state stays well below), page tables and the VMM area.
func physSize(memBytes uint64) uint64 {
	return 4*memBytes + 1<<30
}
