package profiler

import (
	"context"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vpmu/vpmu/hypervisor"
	"github.com/vpmu/vpmu/profiler/internal/testprog"
	"github.com/vpmu/vpmu/profiler/symbolize"
)

// guestMaps lays out bin's loadable segments at base, as the vpmu loader
// maps them (page-aligned, with the segment's file offset), with the
// file's GNU build ID.
func guestMaps(t *testing.T, bin string, base uint64) *hypervisor.GuestMaps {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var id string
	if s := f.Section(".note.gnu.build-id"); s != nil {
		d, err := s.Data()
		if err != nil || len(d) < 16 {
			t.Fatalf("build-id note: %v", err)
		}
		id = hex.EncodeToString(d[16:])
	}
	var g hypervisor.GuestMaps
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		start := (p.Vaddr &^ 0xfff) + base
		limit := (p.Vaddr+p.Memsz+0xfff)&^0xfff + base
		g.Maps = append(g.Maps, hypervisor.GuestMapping{Start: start, Limit: limit, Offset: p.Off &^ 0xfff, File: bin, BuildID: id})
	}
	return &g
}

// TestVMStreamProfile feeds a VMStream virtual PMIs of a PIE C program
// mapped in a guest, the way the VMM hands them over, records them and
// checks the profile after a Write -> Parse round trip: functions and
// lines named from the host file through the guest mappings, the build
// ID, two values per sample, the labels of a VM sample, and a mapping
// that disappears.
func TestVMStreamProfile(t *testing.T) {
	bin := testprog.BuildC(t, "cprog", "-g", "-O2", "-fPIE", "-pie")
	syms := testprog.NM(t, bin)
	mark := testprog.Markers(testprog.CSource)
	const base = 0x5555_5555_4000
	maps := guestMaps(t, bin, base)
	hot, cold := base+syms["hot"].Addr, base+syms["cold"].Addr

	s := NewVMStream("vm7", 0)
	b, err := NewBuilder(Options{Event: "task-clock", Period: 250000, Symbolizer: symbolize.New(symbolize.Options{}),
		Processes: NewProcesses(false)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := Record(context.Background(), s, b, RecordOptions{Window: -1})
		done <- err
	}()
	sample := func(ip uint64, stack []uint64, tid, vcpu int, m *hypervisor.GuestMaps, k uint64) {
		s.Sample(&hypervisor.Sample{PID: 1000, TID: tid, Comm: "cprog", VCPU: vcpu, PCPU: vcpu % 2, Time: uint64(time.Now().UnixNano()),
			Overflows: k, Period: k * 250000, IP: ip, Stack: stack, Maps: m})
	}
	for i := range 40 {
		if i%4 == 3 {
			sample(cold+1, nil, 1001, 1, maps, 1)
		} else {
			sample(hot+1, []uint64{cold + 2}, 1000, 0, maps, 2)
		}
	}
	// The program unmaps itself: later samples there are not named.
	sample(hot+3, nil, 1000, 0, &hypervisor.GuestMaps{}, 1)
	s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Samples != 41 || st.Lost != 0 || st.Mmaps != 2*uint64(len(maps.Maps)) {
		t.Errorf("stats %+v, want 41 samples and %d mapping events", st, 2*len(maps.Maps))
	}
	p := roundTrip(t, b)
	if w := b.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
	if p.SampleType[0].Type != "samples" || p.SampleType[1].Type != "task-clock" || p.SampleType[1].Unit != "nanoseconds" {
		t.Errorf("sample types %v", p.SampleType)
	}
	h := findSample(t, p, hot+1, "vm7")
	if got := h.Location[0].Line; len(got) != 1 || got[0].Function.Name != "hot" || got[0].Function.StartLine != int64(mark["hot"]) {
		t.Errorf("leaf %v", lines(h.Location[0]))
	}
	if got := h.Location[1].Line; len(got) == 0 || got[len(got)-1].Function.Name != "cold" {
		t.Errorf("caller %v", lines(h.Location[1]))
	}
	if h.Value[0] != 30 || h.Value[1] != 30*2*250000 {
		t.Errorf("hot: values %v, want 30 samples of 2 overflows", h.Value)
	}
	if h.NumLabel["tid"][0] != 1000 || h.NumLabel["pid"][0] != 1000 || h.NumLabel["vcpu"][0] != 0 ||
		h.Label["comm"][0] != "cprog" || h.Label["vm"][0] != "vm7" {
		t.Errorf("labels %v %v", h.Label, h.NumLabel)
	}
	c := findSample(t, p, cold+1, "vm7")
	if c.NumLabel["tid"][0] != 1001 || c.NumLabel["vcpu"][0] != 1 || c.NumLabel["cpu"][0] != 1 {
		t.Errorf("cold labels %v", c.NumLabel)
	}
	if m := h.Location[0].Mapping; m.File != bin || m.BuildID != maps.Maps[0].BuildID || m.BuildID == "" || !m.HasFunctions {
		t.Errorf("mapping %+v", m)
	}
	gone := findSample(t, p, hot+3, "vm7")
	if len(gone.Location[0].Line) != 0 {
		t.Errorf("a sample after the unmap was named %v", lines(gone.Location[0]))
	}
}

// TestVMStreamQueue checks the bounded queue: samples beyond it are lost
// and reported as such, Next honours its context, and a closed stream
// drains and ends.
func TestVMStreamQueue(t *testing.T) {
	s := NewVMStream("vm", 2)
	for i := range 5 {
		s.Sample(&hypervisor.Sample{TID: 1000, IP: 0x401000 + uint64(i), Time: uint64(i + 1)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []Event
	for range 2 {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	s.Sample(&hypervisor.Sample{TID: 1000, IP: 0x402000, Time: 9})
	s.Close()
	s.Sample(&hypervisor.Sample{TID: 1000, IP: 0x403000, Time: 10})
	for {
		ev, err := s.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 4 {
		t.Fatalf("%d records, want 2 samples, the lost record, the sample after it", len(got))
	}
	if l, ok := got[2].(*LostEvent); !ok || l.Count != 3 {
		t.Fatalf("record 3 is %#v, want 3 samples lost", got[2])
	}
	if st := s.Stats(); st.Samples != 3 || st.Lost != 3 {
		t.Errorf("stats %+v", st)
	}
}
