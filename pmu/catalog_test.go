package pmu

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const fakeSysfs = "testdata/sysfs"

func fakeCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := NewCatalog(fakeSysfs)
	if err != nil {
		t.Fatalf("NewCatalog(%s): %v", fakeSysfs, err)
	}
	return c
}

func TestBuiltinEvents(t *testing.T) {
	c := fakeCatalog(t)
	for _, tc := range []struct {
		name   string
		kind   Kind
		typ    uint32
		config uint64
		unit   string
	}{
		{"cpu-cycles", KindHardware, 0, 0, ""},
		{"cycles", KindHardware, 0, 0, ""},
		{"instructions", KindHardware, 0, 1, ""},
		{"cache-references", KindHardware, 0, 2, ""},
		{"cache-misses", KindHardware, 0, 3, ""},
		{"branch-instructions", KindHardware, 0, 4, ""},
		{"branches", KindHardware, 0, 4, ""},
		{"branch-misses", KindHardware, 0, 5, ""},
		{"bus-cycles", KindHardware, 0, 6, ""},
		{"stalled-cycles-frontend", KindHardware, 0, 7, ""},
		{"idle-cycles-frontend", KindHardware, 0, 7, ""},
		{"stalled-cycles-backend", KindHardware, 0, 8, ""},
		{"idle-cycles-backend", KindHardware, 0, 8, ""},
		{"ref-cycles", KindHardware, 0, 9, ""},
		{"cpu-clock", KindSoftware, 1, 0, "ns"},
		{"task-clock", KindSoftware, 1, 1, "ns"},
		{"page-faults", KindSoftware, 1, 2, ""},
		{"faults", KindSoftware, 1, 2, ""},
		{"context-switches", KindSoftware, 1, 3, ""},
		{"cs", KindSoftware, 1, 3, ""},
		{"cpu-migrations", KindSoftware, 1, 4, ""},
		{"migrations", KindSoftware, 1, 4, ""},
		{"minor-faults", KindSoftware, 1, 5, ""},
		{"major-faults", KindSoftware, 1, 6, ""},
		{"alignment-faults", KindSoftware, 1, 7, ""},
		{"emulation-faults", KindSoftware, 1, 8, ""},
		{"dummy", KindSoftware, 1, 9, ""},
		{"bpf-output", KindSoftware, 1, 10, ""},
		{"cgroup-switches", KindSoftware, 1, 11, ""},
		{"syscalls", KindVirtual, 0, uint64(VirtSyscalls), ""},
		{"vm-exits", KindVirtual, 0, uint64(VirtVMExits), ""},
		{"pv-calls", KindVirtual, 0, uint64(VirtPVCalls), ""},
	} {
		e, ok := c.Lookup(tc.name)
		if !ok {
			t.Errorf("Lookup(%q) failed", tc.name)
			continue
		}
		want := Event{Name: tc.name, Kind: tc.kind, Type: tc.typ, Config: tc.config, Unit: tc.unit}
		if e != want {
			t.Errorf("Lookup(%q) = %+v, want %+v", tc.name, e, want)
		}
	}
	for _, name := range []string{"CYCLES", "Task-Clock", "cycle", "", "cpu-cycles:u", "r01c2"} {
		if e, ok := c.Lookup(name); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", name, e)
		}
	}
}

func TestVirtualEventsListed(t *testing.T) {
	c := fakeCatalog(t)
	for _, v := range virtualEvents {
		e, ok := c.Lookup(v.Name)
		if !ok || e.Kind != KindVirtual || VirtualEvent(e.Config) != v.Num || e.Type != 0 {
			t.Errorf("Lookup(%q) = %+v, %v", v.Name, e, ok)
		}
		if v.Num.String() != v.Name {
			t.Errorf("VirtualEvent(%d).String() = %q, want %q", v.Num, v.Num.String(), v.Name)
		}
	}
}

func TestCacheEventNames(t *testing.T) {
	var got []string
	for _, e := range cacheEntries() {
		got = append(got, e.Name)
	}
	// perf's table: L1I has no stores, iTLB and branch have loads only.
	want := strings.Fields(`
		L1-dcache-loads L1-dcache-load-misses L1-dcache-stores L1-dcache-store-misses L1-dcache-prefetches L1-dcache-prefetch-misses
		L1-icache-loads L1-icache-load-misses L1-icache-prefetches L1-icache-prefetch-misses
		LLC-loads LLC-load-misses LLC-stores LLC-store-misses LLC-prefetches LLC-prefetch-misses
		dTLB-loads dTLB-load-misses dTLB-stores dTLB-store-misses dTLB-prefetches dTLB-prefetch-misses
		iTLB-loads iTLB-load-misses
		branch-loads branch-load-misses
		node-loads node-load-misses node-stores node-store-misses node-prefetches node-prefetch-misses`)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cache events:\n got %v\nwant %v", got, want)
	}
}

func TestCacheEventDecode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config uint64
	}{
		{"L1-dcache-loads", 0x00000},
		{"L1-dcache-load-misses", 0x10000},
		{"L1-dcache-stores", 0x00100},
		{"L1-dcache-prefetch-misses", 0x10200},
		{"L1-icache-load-misses", 0x10001},
		{"LLC-loads", 0x00002},
		{"LLC-store-misses", 0x10102},
		{"dTLB-load-misses", 0x10003},
		{"iTLB-load-misses", 0x10004},
		{"branch-loads", 0x00005},
		{"branch-load-misses", 0x10005},
		{"node-prefetch-misses", 0x10206},
		// perf's other spellings: aliases, any case, parts omitted or swapped.
		{"l1d-load-miss", 0x10000},
		{"L1-DCACHE-LOADS", 0x00000},
		{"L1-dcache", 0x00000},
		{"L1-data-write-access", 0x00100},
		{"LLC-misses", 0x10002},
		{"LLC-misses-stores", 0x10102},
		{"L2-loads", 0x00002},
		{"d-tlb-speculative-read-misses", 0x10203},
		{"Instruction-TLB-read-miss", 0x10004},
		{"bpu-Reference", 0x00005},
		{"btb-ops", 0x00005},
		{"node-write", 0x00106},
	} {
		id, op, res, ok := decodeCacheEvent(tc.name)
		if !ok {
			t.Errorf("decodeCacheEvent(%q) failed", tc.name)
			continue
		}
		if got := cacheConfig(uint64(id), uint64(op), uint64(res)); got != tc.config {
			t.Errorf("decodeCacheEvent(%q) config = %#x, want %#x", tc.name, got, tc.config)
		}
	}
	for _, name := range []string{
		"iTLB-stores", "L1-icache-stores", "branch-prefetches", "branch-store-misses",
		"L1-dcache-loads-loads", "L1-dcache-misses-misses", "L1-dcache-foo", "L1-dcachex",
		"L1-dcache-", "LLC--loads", "L3-loads", "dcache-loads", "",
	} {
		if _, _, _, ok := decodeCacheEvent(name); ok {
			t.Errorf("decodeCacheEvent(%q) succeeded, want failure", name)
		}
	}
}

func TestLookupSysfs(t *testing.T) {
	c := fakeCatalog(t)
	for _, tc := range []struct {
		name string
		want Event
	}{
		{"msr/tsc/", Event{Name: "msr/tsc/", Kind: KindPMU, Type: 9, PMU: "msr"}},
		{"tsc", Event{Name: "msr/tsc/", Kind: KindPMU, Type: 9, PMU: "msr"}},
		{"TSC", Event{Name: "msr/tsc/", Kind: KindPMU, Type: 9, PMU: "msr"}},
		{"cpu/cpu-cycles/", Event{Name: "cpu/cpu-cycles/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x3c}},
		{"cpu/mem-loads/", Event{Name: "cpu/mem-loads/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x1cd, Config1: 3}},
		{"mem-loads", Event{Name: "cpu/mem-loads/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x1cd, Config1: 3}},
		{"uncore_imc_0/cas_count_read/", Event{Name: "uncore_imc_0/cas_count_read/", Kind: KindPMU, Type: 16, PMU: "uncore_imc_0", Config: 0x0304, Unit: "MiB", Scale: 6.103515625e-5}},
		{"power/energy-pkg/", Event{Name: "power/energy-pkg/", Kind: KindPMU, Type: 14, PMU: "power", Config: 2, Unit: "Joules", Scale: 2.3283064365386962890625e-10}},
		{"cpu/topdown-total-slots/", Event{Name: "cpu/topdown-total-slots/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x3c | 1<<21, Scale: 2}},
		{"amd_df/remote_outbound_data_controller_0/", Event{Name: "amd_df/remote_outbound_data_controller_0/", Kind: KindPMU, Type: 11, PMU: "amd_df", Config: 0xc7 | 0x02<<8 | 0x7<<32}},
		{"cpu/cycles-ct/", Event{Name: "cpu/cycles-ct/", Kind: KindPMU, Type: 4, PMU: "cpu", Config: 0x3c | 1<<32 | 1<<33}},
	} {
		got, ok := c.Lookup(tc.name)
		if !ok || got != tc.want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", tc.name, got, ok, tc.want)
		}
	}
	for _, name := range []string{
		"cas_count_read",     // two PMUs have it: ambiguous for Lookup
		"hv_24x7/PM_PB_CYC/", // needs the core parameter
		"PM_PB_CYC",
		"msr/nope/", "nope/tsc/", "msr/tsc", "msr//",
	} {
		if e, ok := c.Lookup(name); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", name, e)
		}
	}
}

func TestList(t *testing.T) {
	c := fakeCatalog(t)
	list := c.List()
	if !sort.SliceIsSorted(list, func(i, j int) bool {
		if list[i].Kind != list[j].Kind {
			return list[i].Kind < list[j].Kind
		}
		return list[i].Name < list[j].Name
	}) {
		t.Error("List is not sorted by kind, then name")
	}
	counts := map[Kind]int{}
	byName := map[string]Entry{}
	for _, e := range list {
		counts[e.Kind]++
		if _, dup := byName[e.Name]; dup {
			t.Errorf("List has %q twice", e.Name)
		}
		byName[e.Name] = e
		if e.Description == "" {
			t.Errorf("%s has no description", e.Name)
		}
		if e.Event.Kind != e.Kind {
			t.Errorf("%s: Event.Kind %v != Kind %v", e.Name, e.Event.Kind, e.Kind)
		}
		if len(e.Params) > 0 {
			continue
		}
		got, ok := c.Lookup(e.Name)
		if !ok || got != e.Event {
			t.Errorf("Lookup(%q) = %+v, %v; List says %+v", e.Name, got, ok, e.Event)
		}
		for _, a := range e.Aliases {
			got, ok := c.Lookup(a)
			got.Name = e.Name
			if !ok || got != e.Event {
				t.Errorf("alias Lookup(%q) = %+v, %v; want %+v", a, got, ok, e.Event)
			}
		}
	}
	want := map[Kind]int{KindHardware: 10, KindSoftware: 12, KindHWCache: 32, KindVirtual: len(virtualEvents), KindPMU: 32}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("List has %d %v entries, want %d", counts[k], k, n)
		}
	}
	if e := byName["cpu-cycles"]; strings.Join(e.Aliases, ",") != "cycles" {
		t.Errorf("cpu-cycles aliases = %v", e.Aliases)
	}
	if e := byName["power/energy-pkg/"]; !e.PerPkg || e.Snapshot || e.PMU != "power" {
		t.Errorf("power/energy-pkg/ = %+v, want PerPkg", e)
	}
	if e := byName["msr/cpu_thermal_margin/"]; !e.Snapshot || e.Event.Unit != "C" {
		t.Errorf("msr/cpu_thermal_margin/ = %+v, want Snapshot, unit C", e)
	}
	if e := byName["hv_24x7/PM_PB_CYC/"]; strings.Join(e.Params, ",") != "core" || e.Event.Config != 2|0xe0<<32 {
		t.Errorf("hv_24x7/PM_PB_CYC/ = %+v, want Params [core], config %#x", e, uint64(2|0xe0<<32))
	}
	// The caller owns the slice.
	list[0].Aliases = append(list[0].Aliases, "x")
	list[0].Name = "changed"
	if c.List()[0].Name == "changed" {
		t.Error("List returned the catalog's own slice")
	}
}

func TestCatalogPMUs(t *testing.T) {
	c := fakeCatalog(t)
	want := "amd_df breakpoint cpu hv_24x7 kprobe msr power software tracepoint uncore_imc_0 uncore_imc_1 uprobe"
	if got := strings.Join(c.PMUs(), " "); got != want {
		t.Errorf("PMUs() = %s, want %s", got, want)
	}
	for name, typ := range map[string]uint32{"cpu": 4, "software": 1, "tracepoint": 2, "breakpoint": 5, "msr": 9, "uncore_imc_1": 17} {
		if got, ok := c.PMUType(name); !ok || got != typ {
			t.Errorf("PMUType(%s) = %d, %v; want %d", name, got, ok, typ)
		}
	}
	if _, ok := c.PMUType("nope"); ok {
		t.Error("PMUType(nope) found")
	}
	if c.SysfsRoot() != fakeSysfs {
		t.Errorf("SysfsRoot() = %q", c.SysfsRoot())
	}
}

func TestCatalogWithoutDevicesDir(t *testing.T) {
	c, err := NewCatalog(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PMUs()) != 0 {
		t.Errorf("PMUs() = %v, want none", c.PMUs())
	}
	if _, ok := c.Lookup("instructions"); !ok {
		t.Error("builtins missing")
	}
	if _, err := ParseSpec("cpu/event=0x3c/", c); err == nil || !strings.Contains(err.Error(), `unknown PMU "cpu"`) {
		t.Errorf("ParseSpec(cpu/event=0x3c/) error = %v, want unknown PMU", err)
	}
}

// TestRealSysfs runs discovery on this machine's /sys: it must succeed and
// find every PMU the kernel lists (msr, software, ... here; cpu where there
// is a hardware PMU), with their types.
func TestRealSysfs(t *testing.T) {
	dir := filepath.Join("/sys", devicesDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("skipping: no %s: %v", dir, err)
	}
	c, err := NewCatalog("/sys")
	if err != nil {
		t.Fatalf("NewCatalog(/sys): %v", err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "type"))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if got, ok := c.PMUType(e.Name()); !ok || uint64(got) != want {
			t.Errorf("PMUType(%s) = %d, %v; want %d", e.Name(), got, ok, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "msr", "events", "tsc")); err == nil {
		ev, ok := c.Lookup("msr/tsc/")
		typ, _ := c.PMUType("msr")
		if !ok || ev.Type != typ || ev.Kind != KindPMU {
			t.Errorf("Lookup(msr/tsc/) = %+v, %v", ev, ok)
		}
		if _, err := ParseSpec("msr/tsc/u,tsc", c); err != nil {
			t.Errorf("ParseSpec(msr/tsc/u,tsc): %v", err)
		}
	}
	d := DefaultCatalog()
	if d.DiscoveryErr() != nil {
		t.Errorf("DefaultCatalog().DiscoveryErr() = %v", d.DiscoveryErr())
	}
	if strings.Join(d.PMUs(), ",") != strings.Join(c.PMUs(), ",") {
		t.Errorf("DefaultCatalog PMUs %v != NewCatalog(/sys) PMUs %v", d.PMUs(), c.PMUs())
	}
}

func TestDiscoveryFallback(t *testing.T) {
	root := writeTree(t, map[string]string{"cpu/type": "four", "msr/type": "9"})
	c := catalogOrBuiltins(root)
	if err := c.DiscoveryErr(); err == nil || !strings.Contains(err.Error(), "bad PMU type") {
		t.Fatalf("DiscoveryErr() = %v, want the bad type", err)
	}
	// The malformed PMU is left out; the good one stays.
	if got := strings.Join(c.PMUs(), ","); got != "msr" {
		t.Errorf("fallback catalog has PMUs %q, want msr", got)
	}
	if _, err := NewCatalog(root); err == nil {
		t.Error("NewCatalog accepted a malformed tree")
	}
	if _, err := ParseSpec("cycles:u,L1-dcache-loads,syscalls", c); err != nil {
		t.Errorf("builtins in the fallback catalog: %v", err)
	}
	if c := catalogOrBuiltins(fakeSysfs); c.DiscoveryErr() != nil || len(c.PMUs()) == 0 {
		t.Errorf("good tree: %v, %v", c.DiscoveryErr(), c.PMUs())
	}
}

func TestDefaultCatalogConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	cats := make([]*Catalog, 8)
	for i := range cats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cats[i] = DefaultCatalog()
			if _, err := ParseSpec("cycles,task-clock:u", nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, c := range cats {
		if c != cats[0] {
			t.Fatal("DefaultCatalog returned different catalogs")
		}
	}
}
