package perfevent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vpmu/vpmu/internal/testutil"
	"github.com/vpmu/vpmu/internal/unix"
	"github.com/vpmu/vpmu/pmu"
)

// fakeHost builds a /proc and /sys tree for diagnosis.
type fakeHost struct {
	vm       bool   // cpuinfo has the hypervisor flag
	paranoid string // "" = file absent
	capEff   string // hex CapEff
	pmus     map[string]int
	possible string
	maxRate  string
}

func (f fakeHost) build(t *testing.T) host {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if f.paranoid != "" {
		write("proc/sys/kernel/perf_event_paranoid", f.paranoid+"\n")
	}
	if f.maxRate != "" {
		write("proc/sys/kernel/perf_event_max_sample_rate", f.maxRate+"\n")
	}
	write("proc/self/status", "Name:\ttest\nCapInh:\t0000000000000000\nCapEff:\t"+f.capEff+"\n")
	flags := "fpu vme de pse tsc msr"
	if f.vm {
		flags += " hypervisor"
	}
	write("proc/cpuinfo", "processor\t: 0\nflags\t\t: "+flags+"\n")
	for name, typ := range f.pmus {
		write("sys/bus/event_source/devices/"+name+"/type", strconv.Itoa(typ)+"\n")
	}
	if f.possible != "" {
		write("sys/devices/system/cpu/possible", f.possible+"\n")
	}
	return host{procRoot: filepath.Join(root, "proc"), sysfsRoot: filepath.Join(root, "sys")}
}

var (
	noPMUHost = fakeHost{vm: true, paranoid: "2", capEff: "0000000000000000", pmus: map[string]int{"software": 1, "tracepoint": 2, "breakpoint": 5, "msr": 9}, possible: "0-1", maxRate: "100000"}
	pmuHost   = fakeHost{paranoid: "2", capEff: "0000000000000000", pmus: map[string]int{"software": 1, "cpu": 4, "msr": 9}, possible: "0-3", maxRate: "100000"}
	rootHost  = fakeHost{paranoid: "2", capEff: "000001ffffffffff", pmus: map[string]int{"software": 1, "cpu": 4}, possible: "0-1"}
)

func TestDiagnose(t *testing.T) {
	user := evTaskClock
	user.Exclude = pmu.ExcludeKernel
	msrEv := pmu.Event{Name: "msr/tsc/", Kind: pmu.KindPMU, PMU: "msr", Type: 9}
	goneEv := pmu.Event{Name: "uncore_imc/cas/", Kind: pmu.KindPMU, PMU: "uncore_imc", Type: 77}
	for _, tc := range []struct {
		name     string
		e        pmu.Event
		attr     func(*unix.PerfEventAttr)
		target   pmu.Target
		errno    unix.Errno
		host     fakeHost
		wantNS   bool // *pmu.NotSupportedError, else *OpenError
		contains string
	}{
		{"hw no pmu", evInstructions, nil, pmu.ThisThread, unix.ENOENT, noPMUHost, true, pmu.ReasonNoHardwarePMU},
		{"hw no pmu eopnotsupp", evCycles, nil, pmu.ThisThread, unix.EOPNOTSUPP, noPMUHost, true, pmu.ReasonNoHardwarePMU},
		{"hw bare metal no driver", evCycles, nil, pmu.ThisThread, unix.ENOENT, fakeHost{capEff: "0", pmus: map[string]int{"software": 1}}, true, pmu.ReasonNoCorePMUDriver},
		{"hw with pmu", evCycles, nil, pmu.ThisThread, unix.ENOENT, pmuHost, true, "does not implement this event"},
		{"hw sampling", evCycles, func(a *unix.PerfEventAttr) { a.Sample = 1000 }, pmu.ThisThread, unix.EOPNOTSUPP, pmuHost, true, "cannot sample"},
		{"sw unknown", pmu.Event{Name: "sw99", Kind: pmu.KindSoftware, Type: 1, Config: 99}, nil, pmu.ThisThread, unix.ENOENT, noPMUHost, true, "software event 99"},
		{"pmu missing", goneEv, nil, pmu.ThisThread, unix.ENOENT, noPMUHost, true, `PMU "uncore_imc" is not registered`},
		{"pmu per-thread", msrEv, nil, pmu.ThisThread, unix.EOPNOTSUPP, noPMUHost, true, "cannot count per thread"},
		{"pmu modifiers", msrEv, func(a *unix.PerfEventAttr) { a.Bits |= unix.PerfBitExcludeKernel }, pmu.Target{PID: -1, CPU: 0}, unix.EOPNOTSUPP, noPMUHost, true, "cannot filter by privilege"},
		{"paranoid kernel", evTaskClock, nil, pmu.ThisThread, unix.EACCES, noPMUHost, true, "perf_event_paranoid is 2"},
		{"paranoid kernel hint", evTaskClock, nil, pmu.ThisThread, unix.EACCES, noPMUHost, true, "only with :u"},
		{"paranoid cpu", user, func(a *unix.PerfEventAttr) { a.Bits |= unix.PerfBitExcludeKernel }, pmu.Target{PID: -1, CPU: 1}, unix.EACCES, noPMUHost, true, "CPU-wide events need CAP_PERFMON"},
		{"paranoid 3", user, nil, pmu.ThisThread, unix.EACCES, fakeHost{paranoid: "3", capEff: "0"}, true, "perf_event_open is disabled for unprivileged users"},
		{"paranoid other user", user, func(a *unix.PerfEventAttr) { a.Bits |= unix.PerfBitExcludeKernel }, pmu.Target{PID: 4242, CPU: -1}, unix.EACCES, noPMUHost, true, "thread 4242 may belong to another user"},
		{"seccomp", evTaskClock, nil, pmu.ThisThread, unix.EPERM, rootHost, true, "seccomp"},
		{"capable eacces", evTaskClock, nil, pmu.ThisThread, unix.EACCES, rootHost, true, "security module"},
		{"paranoid unreadable", evTaskClock, nil, pmu.ThisThread, unix.EACCES, fakeHost{capEff: "0"}, true, "perf_event_paranoid is unreadable"},
		{"cpu missing", evTaskClock, nil, pmu.Target{PID: -1, CPU: 7}, unix.EINVAL, noPMUHost, false, "cpu 7 does not exist (cpus 0-1)"},
		{"freq", evCPUClock, func(a *unix.PerfEventAttr) { a.Bits |= unix.PerfBitFreq; a.Sample = 1e6 }, pmu.ThisThread, unix.EINVAL, noPMUHost, true, "exceeds kernel.perf_event_max_sample_rate 100000"},
		{"inherit read", evCPUClock, func(a *unix.PerfEventAttr) { a.Bits |= unix.PerfBitInherit; a.Sample_type = unix.PERF_SAMPLE_READ }, pmu.ThisThread, unix.EINVAL, noPMUHost, true, "PERF_SAMPLE_READ"},
		{"inherit group", evCPUClock, func(a *unix.PerfEventAttr) { a.Bits |= unix.PerfBitInherit; a.Read_format = groupReadFormat }, pmu.ThisThread, unix.EINVAL, noPMUHost, true, "PERF_FORMAT_GROUP"},
		{"precise", evCycles, func(a *unix.PerfEventAttr) { a.Bits |= 3 << unix.PerfPreciseIPShift }, pmu.ThisThread, unix.EINVAL, pmuHost, true, "precise_ip=3 (:ppp)"},
		{"exclude guest", evCycles, func(a *unix.PerfEventAttr) { a.Bits |= unix.PerfBitExcludeGuest }, pmu.ThisThread, unix.EINVAL, pmuHost, true, "exclude_guest/exclude_host"},
		{"config1", pmu.Event{Name: "cpu/x/", Kind: pmu.KindPMU, PMU: "cpu", Type: 4}, func(a *unix.PerfEventAttr) { a.Ext1 = 5 }, pmu.ThisThread, unix.EINVAL, pmuHost, true, "config1 0x5"},
		{"einval other", evTaskClock, nil, pmu.ThisThread, unix.EINVAL, noPMUHost, true, "rejected the attributes (type 1, config 0x1)"},
		{"busy", evCycles, nil, pmu.ThisThread, unix.EBUSY, pmuHost, true, "PMU is busy"},
		{"esrch", evTaskClock, nil, pmu.Target{PID: 99999, CPU: -1}, unix.ESRCH, noPMUHost, false, "thread 99999 does not exist"},
		{"emfile", evTaskClock, nil, pmu.ThisThread, unix.EMFILE, noPMUHost, false, "RLIMIT_NOFILE"},
		{"e2big", evTaskClock, func(a *unix.PerfEventAttr) { a.Size = 64 }, pmu.ThisThread, unix.E2BIG, noPMUHost, false, "(it expects 64)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := attrFor(tc.e, tc.target, true, groupReadFormat, false)
			if err != nil {
				t.Fatal(err)
			}
			if tc.attr != nil {
				tc.attr(&a)
			}
			err = diagnose(tc.e, &a, tc.target, tc.errno, tc.host.build(t))
			var ns *pmu.NotSupportedError
			var oe *OpenError
			switch {
			case tc.wantNS && !errors.As(err, &ns):
				t.Fatalf("got %T %v, want *pmu.NotSupportedError", err, err)
			case !tc.wantNS && !errors.As(err, &oe):
				t.Fatalf("got %T %v, want *OpenError", err, err)
			}
			msg := err.Error()
			for _, want := range []string{tc.contains, tc.e.String(), "perf_event_open"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if !errors.Is(err, tc.errno) {
				t.Errorf("errors.Is(err, %v) is false", tc.errno)
			}
			if tc.wantNS != errors.Is(err, pmu.ErrNotSupported) {
				t.Errorf("errors.Is(err, ErrNotSupported) = %v", !tc.wantNS)
			}
		})
	}
}

func TestHostProbes(t *testing.T) {
	h := noPMUHost.build(t)
	if ok, why := h.hardwarePMU(); ok || why != pmu.ReasonNoHardwarePMU {
		t.Errorf("hardwarePMU on a PMU-less VM = %v, %q", ok, why)
	}
	if ok, _ := pmuHost.build(t).hardwarePMU(); !ok {
		t.Error("hardwarePMU misses the cpu PMU")
	}
	hybrid := fakeHost{pmus: map[string]int{"cpu_core": 10, "cpu_atom": 11}, capEff: "0"}.build(t)
	if ok, _ := hybrid.hardwarePMU(); !ok {
		t.Error("hardwarePMU misses hybrid cpu_core")
	}
	if n := (fakeHost{possible: "0,2-5", capEff: "0"}).build(t).possibleCPUs(); n != 6 {
		t.Errorf("possibleCPUs(0,2-5) = %d, want 6", n)
	}
	if c, err := rootHost.build(t).perfCapable(); err != nil || !c {
		t.Errorf("perfCapable(all caps) = %v, %v", c, err)
	}
	if c, err := noPMUHost.build(t).perfCapable(); err != nil || c {
		t.Errorf("perfCapable(no caps) = %v, %v", c, err)
	}
}

// TestOpenErrorsHere checks real perf_event_open failures on this
// machine.
func TestOpenErrorsHere(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	s := New()
	one := func(e pmu.Event) pmu.Group { return pmu.Group{Events: []pmu.Event{e}} }

	_, err := s.OpenCounter(one(evInstructions), pmu.ThisThread)
	if ok, why := realHost.hardwarePMU(); ok {
		t.Logf("hardware PMU present; instructions: %v", err)
	} else {
		var ns *pmu.NotSupportedError
		if !errors.As(err, &ns) || !strings.HasPrefix(ns.Reason, pmu.ReasonNoHardwarePMU) {
			t.Errorf("instructions without a PMU (%s): %v, want reason %q", why, err, pmu.ReasonNoHardwarePMU)
		}
		t.Logf("instructions: %v", err)
	}

	for _, tc := range []struct {
		name   string
		g      pmu.Group
		target pmu.Target
		errno  unix.Errno
		want   string
	}{
		{"missing cpu", one(evTaskClock), pmu.Target{PID: -1, CPU: 4096}, unix.EINVAL, "cpu 4096 does not exist"},
		{"missing thread", one(evTaskClock), pmu.Target{PID: 1 << 22, CPU: -1}, unix.ESRCH, "thread 4194304 does not exist"},
		{"unknown software event", one(pmu.Event{Name: "sw-99", Kind: pmu.KindSoftware, Type: 1, Config: 99}), pmu.ThisThread, unix.ENOENT, "software event 99"},
		{"member fails", pmu.Group{Events: []pmu.Event{evTaskClock, {Name: "bogus-type", Kind: pmu.KindPMU, PMU: "nosuchpmu", Type: 999}}}, pmu.ThisThread, unix.ENOENT, `"nosuchpmu" is not registered`},
		{"virtual", one(evSyscalls), pmu.ThisThread, 0, pmu.ReasonVirtualOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.OpenCounter(tc.g, tc.target)
			if err == nil {
				c.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.errno != 0 && !errors.Is(err, tc.errno) {
				t.Errorf("error %v is not %v", err, tc.errno)
			}
			t.Log(err)
		})
	}
}

// TestOpenEMFILE leaves two free fds, so a group of four cannot get its
// fds, and checks the error names the limit.
func TestOpenEMFILE(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	high := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > high {
			high = n
		}
	}
	limit := high + 8
	lim := unix.Rlimit{Cur: uint64(limit), Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	// Fill every free slot below the limit, then free two.
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
	}()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	for i := 0; i < 2 && len(fillers) > 0; i++ {
		unix.Close(fillers[len(fillers)-1])
		fillers = fillers[:len(fillers)-1]
	}
	c, err := New().OpenCounter(swGroup(), pmu.ThisThread)
	if err == nil {
		c.Close()
	}
	var oe *OpenError
	if !errors.As(err, &oe) || !errors.Is(err, unix.EMFILE) || !strings.Contains(err.Error(), "RLIMIT_NOFILE is "+strconv.Itoa(limit)) {
		t.Fatalf("got %v, want EMFILE naming the limit %d", err, limit)
	}
	t.Log(err)
}

// TestOpenUnprivileged runs the test binary as nobody and checks what
// the paranoid level forbids is explained.
func TestOpenUnprivileged(t *testing.T) {
	testutil.MustHavePerfEvent(t)
	if os.Getuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	level, err := realHost.paranoid()
	if err != nil {
		t.Skip(err)
	}
	if level < 2 {
		t.Skipf("perf_event_paranoid is %d: unprivileged kernel counting is allowed here", level)
	}
	// The binary must be executable by nobody.
	dir, err := os.MkdirTemp("", "vpmu-unpriv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe, _ := os.Executable()
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "perfevent.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"=unpriv")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("as nobody:\n%s", out)
	want := map[string]string{
		"kernel": "perf_event_paranoid is " + strconv.Itoa(int(level)),
		"cpu":    "CPU-wide events need CAP_PERFMON",
		"user":   "ok",
	}
	if level >= 3 {
		want["user"] = "perf_event_open is disabled for unprivileged users"
		want["cpu"] = "perf_event_open is disabled for unprivileged users"
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if w, ok := want[k]; ok {
			if !strings.Contains(v, w) {
				t.Errorf("%s: %q does not contain %q", k, v, w)
			}
			delete(want, k)
		}
	}
	if len(want) > 0 {
		t.Errorf("helper did not report %v", want)
	}
}
