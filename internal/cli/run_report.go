package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/vpmu/vpmu/hypervisor"
)

// What vpmu run prints on stderr besides the program's own output: the
// VMM's warnings (sandbox refusals, unimplemented system calls, the first
// system call with an unknown number) as they happen, a summary of
// repeated refusals and unknown system calls, and crash reports.

// vmmLogHandler prints the VMM's warnings and errors (sandbox refusals,
// unimplemented system calls) as "vpmu CMD: message key=value ...". The
// VMM's own "guest crashed" record is left out: the command prints the
// crash report itself.
type vmmLogHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string // "vpmu CMD: "
	attrs  []slog.Attr
}

// newVMMLogger returns the VMM's logger for the command cmd (run,
// record, stat).
func newVMMLogger(w io.Writer, cmd string) *slog.Logger {
	return slog.New(&vmmLogHandler{mu: &sync.Mutex{}, w: w, prefix: "vpmu " + cmd + ": "})
}

func (h *vmmLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *vmmLogHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "guest crashed" {
		return nil
	}
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *vmmLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *vmmLogHandler) WithGroup(string) slog.Handler { return h }

// reportDenials summarizes sandbox refusals that happened more than once
// (the first of each kind was reported when it happened).
func reportDenials(w io.Writer, ds []hypervisor.Denial) {
	for _, d := range ds {
		if d.Count > 1 {
			fmt.Fprintf(w, "vpmu run: sandbox: %d %s refusals in all\n", d.Count, d.Kind)
		}
	}
}

// reportUnknownSyscalls summarizes the system calls with unknown numbers
// when there was more than one (the VMM logged the first when it
// happened, and only counted the others).
func reportUnknownSyscalls(w io.Writer, st hypervisor.Stats) {
	if st.UnknownSyscalls > 1 {
		fmt.Fprintf(w, "vpmu run: %d system calls with unknown numbers in all, the first %d (all returned ENOSYS)\n",
			st.UnknownSyscalls, st.FirstUnknownSyscall)
	}
}

// writeCrash prints a guest crash: what happened, where, and the
// registers.
func writeCrash(w io.Writer, c *hypervisor.GuestCrash) {
	var b strings.Builder
	fmt.Fprintf(&b, "vpmu run: %v\n", c)
	fmt.Fprintf(&b, "  signal:  %v (%d)\n", c.Signal, int(c.Signal))
	if c.Kind == hypervisor.CrashFault {
		fmt.Fprintf(&b, "  fault:   vector %d, error code %#x, address %#x\n", c.Vector, c.ErrorCode, c.Addr)
	}
	fmt.Fprintf(&b, "  thread:  %d on VCPU %d\n", c.TID, c.VCPU)
	for _, line := range strings.Split(c.RegisterDump(), "\n") {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	io.WriteString(w, b.String())
}
