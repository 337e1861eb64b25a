package profiler

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/vpmu/vpmu/profiler/symbolize"
)

// ErrNoEvent is returned by NewBuilder when Options.Event is empty.
var ErrNoEvent = errors.New("profiler: no event name")

// kernelStart is where the kernel half of a 64-bit Linux address space
// begins (x86-64 and arm64): native addresses at or above it are kernel
// code. Guests of the vpmu hypervisor run only in ring 3, so the rule is
// not applied to VM samples.
const kernelStart uint64 = 1 << 63

// Options configures a Builder.
type Options struct {
	// Event is the sampled event as the user wrote it ("cycles:u",
	// "task-clock"). It names the second sample value and the period.
	Event string
	// Unit is the unit of the event's counts: "count", or
	// "nanoseconds" for time events. Empty means [EventUnit](Event).
	Unit string
	// Period is the configured sampling period (events per sample, or
	// nanoseconds for time events). It weighs samples that carry no
	// period and becomes the profile's Period. 0 means the mean of the
	// samples' periods (frequency mode); a sample with no period when
	// this is 0 too weighs 1.
	Period uint64
	// Start is when recording began; zero means when NewBuilder ran.
	Start time.Time
	// Duration is how long recording lasted; zero means the span of the
	// samples' timestamps.
	Duration time.Duration
	// CommandLine is recorded as a comment; nil means os.Args.
	CommandLine []string
	// Comments are added to the profile's comments.
	Comments []string
	// Symbolizer resolves addresses to functions; nil leaves locations
	// as bare addresses (pprof can symbolize them later).
	Symbolizer *symbolize.Symbolizer
	// Processes supplies address spaces and thread names; nil means a
	// new table that reads /proc/PID/maps for unknown host processes.
	Processes *Processes
}

// EventUnit returns the unit of an event's counts: "nanoseconds" for
// the clock events (cpu-clock, task-clock, with or without modifiers),
// "count" for everything else.
func EventUnit(event string) string {
	name, _, _ := strings.Cut(event, ":")
	switch name {
	case "cpu-clock", "task-clock":
		return "nanoseconds"
	}
	return "count"
}

// Builder accumulates the samples of one event and writes them as a pprof
// profile. Samples are resolved against their process's mappings when
// they are added (mappings change over time); symbols are looked up once
// per distinct location when the profile is built.
//
// A Builder is not safe for concurrent use.
type Builder struct {
	opts  Options
	procs *Processes

	mappings  []Mapping // distinct mappings referenced by locations
	mappingIx map[Mapping]int32
	// mappingByID caches mappingIx by AddressSpace mapping id.
	mappingByID map[uint64]int32
	locs        []loc
	locIx       map[loc]int32
	samples     []*aggSample
	sampleIx    map[string]int32
	key         []byte // scratch for sample keys
	ids         []int32

	nSamples, sumPeriod uint64
	lost                uint64
	minTime, maxTime    uint64
	unmapped            uint64 // frames in no known mapping
	pidSamples          map[idKey]uint64

	// addHook, when set (by tests), sees each sample with the location
	// ids of its stack as Add made them.
	addHook func(s *Sample, ids []int32)

	// Symbolization state, filled by Profile.
	resolved []resolved // by location index
	// binaries holds the opened file of each symbolizable mapping, nil
	// when opening failed.
	binaries map[int32]*symbolize.Binary
	warnings []string
	warned   map[string]bool
	outside  map[string]int // per file, addresses outside its segments
}

// loc is a distinct location: an address in a mapping (or in none).
type loc struct {
	mapping int32 // index in Builder.mappings, -1 for none
	addr    uint64
	kernel  bool
}

// aggSample is the total of the samples with one stack and label set.
type aggSample struct {
	locs         []int32
	count, value uint64
	pid, tid     int
	cpu, vcpu    int
	comm, vm     string
}

// NewBuilder returns an empty Builder for one event.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.Event == "" {
		return nil, ErrNoEvent
	}
	if opts.Unit == "" {
		opts.Unit = EventUnit(opts.Event)
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now()
	}
	if opts.CommandLine == nil {
		opts.CommandLine = os.Args
	}
	procs := opts.Processes
	if procs == nil {
		procs = NewProcesses(true)
	}
	return &Builder{
		opts:        opts,
		procs:       procs,
		mappingIx:   make(map[Mapping]int32),
		mappingByID: make(map[uint64]int32),
		locIx:       make(map[loc]int32),
		sampleIx:    make(map[string]int32),
		pidSamples:  make(map[idKey]uint64),
	}, nil
}

// Processes returns the table samples are resolved against; feed it the
// source's MMAP, COMM and FORK events (Record does).
func (b *Builder) Processes() *Processes { return b.procs }

// Add records one sample. It keeps no reference to s or s.Stack.
func (b *Builder) Add(s *Sample) {
	b.nSamples++
	period := s.Period
	if period == 0 {
		period = b.opts.Period
	}
	if period == 0 {
		period = 1
	}
	b.sumPeriod += period
	if s.Time != 0 {
		if b.minTime == 0 || s.Time < b.minTime {
			b.minTime = s.Time
		}
		b.maxTime = max(b.maxTime, s.Time)
	}
	b.pidSamples[idKey{s.VM, s.PID}]++

	space := b.procs.space(s.VM, s.PID)
	ids := append(b.ids[:0], b.location(s, space, s.IP))
	for _, ret := range s.Stack {
		if ret == 0 {
			break
		}
		// A return address points after the call; the call itself,
		// whose line the frame should show, is the byte before.
		ids = append(ids, b.location(s, space, ret-1))
	}
	b.ids = ids

	comm := s.Comm
	if comm == "" {
		comm = b.procs.ThreadName(s.VM, s.PID, s.TID)
	}
	// The key is unambiguous: a count, then self-delimiting varints,
	// then a length-prefixed name, with the VM name last.
	key := binary.AppendUvarint(b.key[:0], uint64(len(ids)))
	for _, id := range ids {
		key = binary.AppendUvarint(key, uint64(id))
	}
	key = binary.AppendVarint(key, int64(s.PID))
	key = binary.AppendVarint(key, int64(s.TID))
	key = binary.AppendVarint(key, int64(s.CPU))
	key = binary.AppendVarint(key, int64(s.VCPU))
	key = binary.AppendUvarint(key, uint64(len(comm)))
	key = append(key, comm...)
	key = append(key, s.VM...)
	b.key = key

	i, ok := b.sampleIx[string(key)]
	if !ok {
		i = int32(len(b.samples))
		b.sampleIx[string(key)] = i
		b.samples = append(b.samples, &aggSample{
			locs: append([]int32(nil), ids...),
			pid:  s.PID, tid: s.TID, cpu: s.CPU, vcpu: s.VCPU,
			comm: comm, vm: s.VM,
		})
	}
	a := b.samples[i]
	a.count++
	a.value += period
	if b.addHook != nil {
		b.addHook(s, ids)
	}
}

// location returns the index of the location of addr (already adjusted
// for return addresses) in the sample's process.
func (b *Builder) location(s *Sample, space *AddressSpace, addr uint64) int32 {
	k := loc{mapping: -1, addr: addr}
	switch {
	case s.VM == "" && addr >= kernelStart:
		k.kernel = true
		k.mapping = b.mappingIndex(kernelMapping)
	case space != nil:
		if i := space.find(addr); i >= 0 {
			id := space.ids[i]
			mi, ok := b.mappingByID[id]
			if !ok {
				mi = b.mappingIndex(space.maps[i])
				b.mappingByID[id] = mi
			}
			k.mapping = mi
		} else {
			b.unmapped++
		}
	default:
		b.unmapped++
	}
	return intern(b.locIx, &b.locs, k)
}

func (b *Builder) mappingIndex(m Mapping) int32 {
	return intern(b.mappingIx, &b.mappings, m)
}

// intern returns k's index in *list, appending k on first sight.
func intern[K comparable](index map[K]int32, list *[]K, k K) int32 {
	i, ok := index[k]
	if !ok {
		i = int32(len(*list))
		index[k] = i
		*list = append(*list, k)
	}
	return i
}

// kernelMapping stands for the kernel's text in native profiles.
var kernelMapping = Mapping{Start: kernelStart, Limit: ^uint64(0), File: "[kernel.kallsyms]"}

// AddLost records n samples the source dropped. They appear in the
// profile under a "[lost samples]" pseudo-function, weighted with the
// mean sampling period, and in a comment.
func (b *Builder) AddLost(n uint64) { b.lost += n }

// Samples returns the number of samples added and lost.
func (b *Builder) Samples() (added, lost uint64) { return b.nSamples, b.lost }

// version returns vpmu's module version for the profile's comments.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// period returns the profile's sampling period: the configured one, or
// the mean of the samples' periods.
func (b *Builder) period() uint64 {
	if b.opts.Period != 0 {
		return b.opts.Period
	}
	if b.nSamples == 0 {
		return 0
	}
	return (b.sumPeriod + b.nSamples/2) / b.nSamples
}
