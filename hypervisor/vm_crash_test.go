package hypervisor

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestGuestCrash(t *testing.T) {
	prog := buildC(t, "crash")
	for _, tc := range []struct {
		mode   string
		signal syscall.Signal
		vector int
		addr   uint64 // for page faults
	}{
		{"segv", syscall.SIGSEGV, vecPF, 8},
		{"write", syscall.SIGSEGV, vecPF, 16},
		{"ud", syscall.SIGILL, vecUD, 0},
		{"div", syscall.SIGFPE, vecDE, 0},
		{"gp", syscall.SIGSEGV, vecGP, 0},
		{"int3", syscall.SIGTRAP, vecBP, 0},
		{"guard", syscall.SIGSEGV, vecPF, 0},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			r := runGuest(t, Config{}, prog, tc.mode)
			var c *GuestCrash
			if !errors.As(r.err, &c) {
				t.Fatalf("err = %v, want a *GuestCrash", r.err)
			}
			if c.Kind != CrashFault || c.Signal != tc.signal || c.Vector != tc.vector {
				t.Errorf("crash = %v (kind %v, vector %d), want %v from vector %d", c, c.Kind, c.Vector, tc.signal, tc.vector)
			}
			if want := 128 + int(tc.signal); r.status.Int() != want || r.status.Signal != tc.signal {
				t.Errorf("status = %v (%d), want %d", r.status, r.status.Int(), want)
			}
			if tc.addr != 0 && c.Addr != tc.addr {
				t.Errorf("fault address %#x, want %#x", c.Addr, tc.addr)
			}
			if c.Regs.RIP < 0x400000 || c.Regs.RIP >= 0x800000 || c.Regs.RSP < stackTop-defaultStackSize {
				t.Errorf("registers at the crash look wrong: %s", c.RegisterDump())
			}
			if r.stdout != "before the crash\n" {
				t.Errorf("stdout = %q", r.stdout)
			}
			if msg := c.Error(); !strings.Contains(msg, tc.signal.String()) {
				t.Errorf("message %q does not name the signal", msg)
			}
			t.Logf("%v\n%s", c, c.RegisterDump())
		})
	}
}
