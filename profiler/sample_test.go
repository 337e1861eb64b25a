package profiler

import (
	"reflect"
	"testing"
)

func TestCallchainStack(t *testing.T) {
	const (
		kernel = 1<<64 - 128 // PERF_CONTEXT_KERNEL
		user   = 1<<64 - 512 // PERF_CONTEXT_USER
	)
	tests := []struct {
		name  string
		ip    uint64
		chain []uint64
		want  []uint64
	}{
		{"user only", 0x401000, []uint64{user, 0x401000, 0x402000, 0x403000}, []uint64{0x402000, 0x403000}},
		{"kernel and user", 0xffffffff81000010, []uint64{kernel, 0xffffffff81000010, 0xffffffff81000200, user, 0x401000, 0x402000},
			[]uint64{0xffffffff81000200, 0x401000, 0x402000}},
		{"first is not ip", 0x401000, []uint64{user, 0x402000}, []uint64{0x402000}},
		{"markers only", 0x401000, []uint64{user}, nil},
		{"empty", 0x401000, nil, nil},
	}
	for _, tt := range tests {
		got := CallchainStack(nil, tt.ip, tt.chain)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#x, want %#x", tt.name, got, tt.want)
		}
	}
	// It appends to dst.
	if got := CallchainStack([]uint64{1}, 5, []uint64{5, 6}); !reflect.DeepEqual(got, []uint64{1, 6}) {
		t.Errorf("append: got %v", got)
	}
}

func TestEventUnit(t *testing.T) {
	for ev, want := range map[string]string{
		"cycles": "count", "cpu-clock": "nanoseconds", "task-clock:u": "nanoseconds",
		"instructions:k": "count", "r01c2": "count", "syscalls": "count",
	} {
		if got := EventUnit(ev); got != want {
			t.Errorf("EventUnit(%q) = %q, want %q", ev, got, want)
		}
	}
}

func TestProcesses(t *testing.T) {
	p := NewProcesses(false)
	exe := Mapping{Start: 0x400000, Limit: 0x500000, File: "/bin/sh"}
	lib := Mapping{Start: 0x7f0000000000, Limit: 0x7f0000100000, File: "/lib/libc.so.6"}
	if err := p.Mmap("", 100, exe); err != nil {
		t.Fatal(err)
	}
	p.Comm("", 100, 100, "sh", true) // exec: the mapping above is gone
	if _, ok := p.Find("", 100, 0x400100); ok {
		t.Errorf("mapping survived exec")
	}
	for _, m := range []Mapping{exe, lib} {
		if err := p.Mmap("", 100, m); err != nil {
			t.Fatal(err)
		}
	}
	p.Fork("", 100, 100, 101, 100) // a thread
	p.Comm("", 100, 101, "worker", false)
	p.Fork("", 200, 100, 200, 101) // a process forked by the thread
	if err := p.Mmap("", 200, Mapping{Start: 0x400000, Limit: 0x480000, File: "/bin/other"}); err != nil {
		t.Fatal(err)
	}
	p.Fork("", 300, 999, 300, 999) // parent unknown
	// Same ids in a VM are another namespace.
	if err := p.Mmap("vm0", 100, Mapping{Start: 0x400000, Limit: 0x401000, File: "/guest/prog"}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		vm       string
		pid, tid int
		addr     uint64
		file     string
		name     string
	}{
		{"", 100, 100, 0x400100, "/bin/sh", "sh"},
		{"", 100, 101, 0x7f0000000100, "/lib/libc.so.6", "worker"},
		{"", 200, 200, 0x400100, "/bin/other", "worker"}, // child's own mapping, name from the forking thread
		{"", 200, 200, 0x490000, "/bin/sh", "worker"},    // rest of the inherited mapping
		{"", 200, 200, 0x7f0000000100, "/lib/libc.so.6", "worker"},
		{"", 300, 300, 0x400100, "", ""},
		{"vm0", 100, 100, 0x400100, "/guest/prog", ""},
		{"vm0", 100, 100, 0x7f0000000100, "", ""},
	} {
		m, _ := p.Find(tt.vm, tt.pid, tt.addr)
		if m.File != tt.file {
			t.Errorf("Find(%q, %d, %#x) = %q, want %q", tt.vm, tt.pid, tt.addr, m.File, tt.file)
		}
		if got := p.ThreadName(tt.vm, tt.pid, tt.tid); got != tt.name {
			t.Errorf("ThreadName(%q, %d, %d) = %q, want %q", tt.vm, tt.pid, tt.tid, got, tt.name)
		}
	}
	// The parent is unaffected by its child's mappings.
	if m, _ := p.Find("", 100, 0x400100); m.File != "/bin/sh" {
		t.Errorf("parent's mapping changed to %q", m.File)
	}
	if got := p.mainFile("", 200); got != "/bin/other" {
		t.Errorf("mainFile = %q", got)
	}
}
