package perfevent

import (
	"bytes"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// TestUserPageSoftwareEvents records what the kernel puts in the user
// page of software events and checks that reads fall back to read(2)
// with the right reason and the right values.
func TestUserPageSoftwareEvents(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	c, err := New(WithUserPage()).OpenCounter(swGroup(), pmu.ThisThread)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.UserPages() {
		t.Fatal("WithUserPage on this thread mapped no pages")
	}
	for _, st := range c.PageStates() {
		t.Logf("%-16s index=%d offset=%d enabled=%v running=%v caps=%#x rdpmc=%v time=%v time_zero=%v time_short=%v width=%d lock=%d",
			st.Event, st.Index, st.Offset, st.Enabled, st.Running, st.Caps, st.CapUserRdpmc, st.CapUserTime, st.CapUserTimeZero, st.CapUserTimeShort, st.PMCWidth, st.Lock)
		if st.Index != 0 || st.CapUserRdpmc {
			t.Errorf("%s: software event page has index %d, cap_user_rdpmc %v; want 0, false", st.Event, st.Index, st.CapUserRdpmc)
		}
	}
	touchPages(t, 300)
	vals, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Last != PathSyscall || st.Syscall != 1 || st.Fallback(FallbackIndexZero) != 1 || st.LastFallback != FallbackIndexZero {
		t.Errorf("stats %+v: want one read(2) fallback for index 0", st)
	}
	if pf := valueOf(t, vals, "page-faults").Raw; pf < 300 {
		t.Errorf("page-faults = %d through the fallback, want >= 300", pf)
	}
}

// TestUserPageOffsetIsStaleForSoftwareEvents verifies, rather than
// assumes, that a software event's page offset is the count as of the
// kernel's last page update and does not follow the live count while the
// thread runs; only read(2) gives the live value.
func TestUserPageOffsetIsStaleForSoftwareEvents(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	lockThread(t)
	c, err := New(WithUserPage()).OpenCounter(pmu.Group{Events: []pmu.Event{evTaskClock}}, pmu.ThisThread)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var frozen, updated int
	for i := 0; i < 20; i++ {
		before := c.PageStates()[0]
		spin(2e5)
		after := c.PageStates()[0]
		vals, err := c.readSyscall(nil)
		if err != nil {
			t.Fatal(err)
		}
		live := int64(vals[0].Raw)
		switch {
		case after.Lock == before.Lock:
			// No page update in between: the offset did not move
			// although the thread ran, and the live count is ahead.
			frozen++
			if after.Offset != before.Offset || live <= after.Offset {
				t.Errorf("lock %d unchanged: offset %d -> %d, live %d", after.Lock, before.Offset, after.Offset, live)
			}
		default:
			updated++
			if after.Offset < before.Offset || after.Offset > live {
				t.Errorf("page update: offset %d -> %d, live %d", before.Offset, after.Offset, live)
			}
		}
		// A context switch updates the page (sched out and in).
		lockBefore := c.PageStates()[0].Lock
		sleepSwitches(1)
		if l := c.PageStates()[0].Lock; l < lockBefore+2 {
			t.Errorf("nanosleep: lock %d -> %d, want a page update", lockBefore, l)
		}
	}
	t.Logf("task-clock page: offset frozen while running in %d windows, updated by a context switch in %d", frozen, updated)
	if frozen == 0 {
		t.Error("never saw a window without a page update; cannot tell whether the offset follows the count")
	}
}

// TestUserPageHardwareFastPath needs a hardware PMU with user rdpmc.
func TestUserPageHardwareFastPath(t *testing.T) {
	testutil.MustHaveHardwarePMU(t)
	if !haveRdpmc {
		t.Skip("no rdpmc implementation on this architecture")
	}
	lockThread(t)
	c, err := New(WithUserPage(), WithUntimedUserReads()).OpenCounter(pmu.Group{Events: []pmu.Event{evInstructions, evCycles}}, pmu.ThisThread)
	if errors.Is(err, pmu.ErrNotSupported) {
		t.Skipf("instructions+cycles: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := c.PageStates()[0]
	if !st.CapUserRdpmc {
		t.Skipf("cap_user_rdpmc clear (sysfs rdpmc=0?): caps %#x", st.Caps)
	}
	var prev uint64
	for i := 0; i < 100; i++ {
		spin(1000)
		vals, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if vals[0].Raw < prev {
			t.Fatalf("instructions went backwards: %d -> %d", prev, vals[0].Raw)
		}
		prev = vals[0].Raw
	}
	s := c.Stats()
	t.Logf("stats: %+v", s)
	if s.UserPage == 0 {
		t.Errorf("no read used the user page: %+v", s)
	}
	fast, _ := c.Read()
	slow, err := c.readSyscall(nil)
	if err != nil {
		t.Fatal(err)
	}
	if fast[0].Raw > slow[0].Raw || slow[0].Raw-fast[0].Raw > 100000 {
		t.Errorf("user page %d vs read(2) %d right after", fast[0].Raw, slow[0].Raw)
	}
}

// TestRdpmcInstruction executes RDPMC in a child without any mapped
// event. Without CR4.PCE the CPU raises #GP, which Linux delivers as
// SIGSEGV; a wrong encoding would raise #UD (SIGILL).
func TestRdpmcInstruction(t *testing.T) {
	if !haveRdpmc {
		t.Skip("no rdpmc on this architecture")
	}
	cmd := helperCommand(t, "rdpmc")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		v, perr := strconv.ParseUint(strings.TrimSpace(out.String()), 10, 64)
		t.Logf("rdpmc(0) allowed here (CR4.PCE set, sysfs rdpmc=2?): %d %v", v, perr)
	case errors.As(err, &ee):
		// The Go runtime turns the fault into a crash with exit 2 and
		// names the signal.
		text := out.String()
		if strings.Contains(text, "SIGILL") {
			t.Fatalf("rdpmc raised SIGILL: bad encoding\n%s", text)
		}
		if !strings.Contains(text, "SIGSEGV") {
			t.Fatalf("rdpmc child died without SIGSEGV: %v\n%s", err, text)
		}
		t.Logf("rdpmc without CR4.PCE: SIGSEGV as expected (%v)", ee.Sys().(syscall.WaitStatus))
	default:
		t.Fatal(err)
	}
}

func TestRdtsc(t *testing.T) {
	if !haveRdpmc {
		t.Skip("no rdtsc on this architecture")
	}
	a := rdtscAsm()
	unix.Getpid()
	b := rdtscAsm()
	if a == 0 || b <= a {
		t.Errorf("rdtsc %d then %d, want increasing", a, b)
	}
}
