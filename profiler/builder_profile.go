package profiler

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/vpmu/vpmu/profiler/symbolize"
)

// Pseudo-function names.
const (
	// KernelFunction names kernel code when kernel symbols are unreadable.
	KernelFunction = "[kernel]"
	// LostFunction carries the samples the source dropped.
	LostFunction = "[lost samples]"
)

// maxWarningComments bounds the symbolization warnings copied into the
// profile's comments; Warnings returns them all.
const maxWarningComments = 20

// resolved is the symbolization result of one location.
type resolved struct {
	frames []symbolize.Frame
	// viaBinary is set when frames came from the mapped file.
	viaBinary bool
}

// symbolizeNew resolves the locations added since the last call.
func (b *Builder) symbolizeNew() {
	for _, err := range b.procs.Errors() {
		b.warn(err.Error())
	}
	if b.binaries == nil {
		b.binaries = make(map[int32]*symbolize.Binary)
	}
	for i := len(b.resolved); i < len(b.locs); i++ {
		b.resolved = append(b.resolved, b.resolve(b.locs[i]))
	}
}

func (b *Builder) resolve(l loc) resolved {
	sym := b.opts.Symbolizer
	if l.kernel {
		if sym != nil {
			k, err := sym.Kallsyms()
			if err != nil {
				b.warn(fmt.Sprintf("kernel symbols: %v", err))
			}
			if k != nil {
				if name, ok := k.Lookup(l.addr); ok {
					return resolved{frames: []symbolize.Frame{{Function: name}}, viaBinary: true}
				}
			}
		}
		return resolved{frames: []symbolize.Frame{{Function: KernelFunction}}}
	}
	if l.mapping < 0 || sym == nil {
		return resolved{}
	}
	m := b.mappings[l.mapping]
	if !m.Symbolizable() {
		return resolved{}
	}
	bin, ok := b.binaries[l.mapping]
	if !ok {
		var err error
		bin, err = sym.Open(m.File, m.BuildID)
		if err != nil {
			b.warn(err.Error())
		} else {
			for _, p := range bin.Problems() {
				b.warn(p.Error())
			}
		}
		b.binaries[l.mapping] = bin
	}
	if bin == nil {
		return resolved{}
	}
	vaddr, err := bin.Translate(m.Start, m.Offset, l.addr)
	if err != nil {
		// Counted, not reported one by one: a broken frame-pointer
		// walk can yield many such addresses.
		if b.outside == nil {
			b.outside = make(map[string]int)
		}
		b.outside[m.File]++
		return resolved{}
	}
	frames, err := bin.Frames(vaddr)
	if err != nil {
		b.warn(err.Error())
	}
	return resolved{frames: frames, viaBinary: true}
}

// warn records a symbolization problem once.
func (b *Builder) warn(msg string) {
	if b.warned == nil {
		b.warned = make(map[string]bool)
	}
	if !b.warned[msg] {
		b.warned[msg] = true
		b.warnings = append(b.warnings, msg)
	}
}

// Warnings returns the problems met resolving samples, each once, as of
// the last Profile: process maps that could not be read, files that could
// not be opened or were damaged, addresses outside their file.
func (b *Builder) Warnings() []string {
	w := append([]string(nil), b.warnings...)
	files := make([]string, 0, len(b.outside))
	for f := range b.outside {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		w = append(w, fmt.Sprintf("symbolize %s: %d addresses outside its loadable segments", f, b.outside[f]))
	}
	return w
}

// Write builds the profile and writes it gzip-compressed to w.
func (b *Builder) Write(w io.Writer) error {
	p, err := b.Profile()
	if err != nil {
		return err
	}
	return p.Write(w)
}

// Profile builds the pprof profile of the samples added so far. It can be
// called again after more samples; symbols already resolved are kept.
//
// Each sample has two values, samples/count and <event>/<unit>, and
// labels: "comm" and "vm" (strings), "pid", "tid", "cpu" and "vcpu"
// (numbers, the last two only when known). Locations are leaf first, and
// inlined frames come before their caller within a location. A return
// address is looked up (and stored) as the address of the byte before
// it, inside the call instruction.
func (b *Builder) Profile() (*profile.Profile, error) {
	b.symbolizeNew()
	unit := b.opts.Unit
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "samples", Unit: "count"},
			{Type: b.opts.Event, Unit: unit},
		},
		DefaultSampleType: b.opts.Event,
		PeriodType:        &profile.ValueType{Type: b.opts.Event, Unit: unit},
		Period:            int64(b.period()),
		TimeNanos:         b.opts.Start.UnixNano(),
		DurationNanos:     b.opts.Duration.Nanoseconds(),
	}
	if p.DurationNanos == 0 && b.maxTime > b.minTime {
		p.DurationNanos = int64(b.maxTime - b.minTime)
	}

	pm := b.buildMappings(p)
	locs := b.buildLocations(p, pm)
	for _, a := range b.samples {
		s := &profile.Sample{
			Location: make([]*profile.Location, len(a.locs)),
			Value:    []int64{int64(a.count), int64(a.value)},
			Label:    map[string][]string{},
			NumLabel: map[string][]int64{"pid": {int64(a.pid)}, "tid": {int64(a.tid)}},
			NumUnit:  map[string][]string{"pid": {"pid"}, "tid": {"tid"}},
		}
		for i, id := range a.locs {
			s.Location[i] = locs[id]
		}
		if a.comm != "" {
			s.Label["comm"] = []string{a.comm}
		}
		if a.vm != "" {
			s.Label["vm"] = []string{a.vm}
		}
		if a.cpu >= 0 {
			s.NumLabel["cpu"], s.NumUnit["cpu"] = []int64{int64(a.cpu)}, []string{"cpu"}
		}
		if a.vcpu >= 0 {
			s.NumLabel["vcpu"], s.NumUnit["vcpu"] = []int64{int64(a.vcpu)}, []string{"vcpu"}
		}
		p.Sample = append(p.Sample, s)
	}
	b.addLost(p)
	b.addComments(p)
	if err := p.CheckValid(); err != nil {
		return nil, fmt.Errorf("profiler: built an invalid profile: %w", err)
	}
	return p, nil
}

// buildMappings converts the referenced mappings, the main executable's
// first (pprof treats the first mapping as the main binary), and sets
// their Has* flags from what symbolization found for their locations.
func (b *Builder) buildMappings(p *profile.Profile) []*profile.Mapping {
	main := b.mainFile()
	order := make([]int, len(b.mappings))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		return b.mappings[order[i]].File == main && b.mappings[order[j]].File != main
	})
	// fl[i] says whether every location of mapping i got a function,
	// file and line, and whether any was looked up in its file.
	type flags struct{ funcs, files, lines, any bool }
	fl := make([]flags, len(b.mappings))
	for i := range fl {
		fl[i] = flags{true, true, true, false}
	}
	for i, l := range b.locs {
		if l.mapping < 0 {
			continue
		}
		f := &fl[l.mapping]
		r := b.resolved[i]
		f.any = f.any || r.viaBinary
		if !r.viaBinary || len(r.frames) == 0 {
			f.funcs, f.files, f.lines = false, false, false
			continue
		}
		for _, fr := range r.frames {
			f.funcs = f.funcs && fr.Function != ""
			f.files = f.files && fr.File != ""
			f.lines = f.lines && fr.Line != 0
		}
	}
	pm := make([]*profile.Mapping, len(b.mappings))
	for n, i := range order {
		m := b.mappings[i]
		f := fl[i]
		x := &profile.Mapping{
			ID: uint64(n + 1), Start: m.Start, Limit: m.Limit, Offset: m.Offset,
			File: m.File, BuildID: m.BuildID,
		}
		if f.any {
			x.HasFunctions, x.HasFilenames, x.HasLineNumbers = f.funcs, f.funcs && f.files, f.funcs && f.lines
		}
		if bin := b.binaries[int32(i)]; bin != nil {
			info := bin.Info()
			if x.BuildID == "" {
				x.BuildID = info.BuildID
			}
			x.HasInlineFrames = x.HasFunctions && info.HasInlineFrames
		}
		pm[i] = x
		p.Mapping = append(p.Mapping, x)
	}
	return pm
}

// buildLocations converts the locations and their functions.
func (b *Builder) buildLocations(p *profile.Profile, pm []*profile.Mapping) []*profile.Location {
	type fnKey struct {
		name, file string
		start      int
	}
	funcs := make(map[fnKey]*profile.Function)
	function := func(fr symbolize.Frame) *profile.Function {
		k := fnKey{fr.Function, fr.File, fr.StartLine}
		f, ok := funcs[k]
		if !ok {
			f = &profile.Function{
				ID: uint64(len(p.Function) + 1), Name: fr.Function, SystemName: fr.Function,
				Filename: fr.File, StartLine: int64(fr.StartLine),
			}
			funcs[k] = f
			p.Function = append(p.Function, f)
		}
		return f
	}
	locs := make([]*profile.Location, len(b.locs))
	for i, l := range b.locs {
		x := &profile.Location{ID: uint64(i + 1), Address: l.addr}
		if l.mapping >= 0 {
			x.Mapping = pm[l.mapping]
		}
		for _, fr := range b.resolved[i].frames {
			if fr.Function == "" {
				continue
			}
			x.Line = append(x.Line, profile.Line{Function: function(fr), Line: int64(fr.Line)})
		}
		locs[i] = x
		p.Location = append(p.Location, x)
	}
	return locs
}

// addLost adds the lost samples as one sample at a pseudo-function,
// weighted with the profile's period (their own periods are unknown).
func (b *Builder) addLost(p *profile.Profile) {
	if b.lost == 0 {
		return
	}
	f := &profile.Function{ID: uint64(len(p.Function) + 1), Name: LostFunction, SystemName: LostFunction}
	l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
	p.Function = append(p.Function, f)
	p.Location = append(p.Location, l)
	p.Sample = append(p.Sample, &profile.Sample{
		Location: []*profile.Location{l},
		Value:    []int64{int64(b.lost), int64(b.lost * b.period())},
	})
}

func (b *Builder) addComments(p *profile.Profile) {
	p.Comments = append(p.Comments, "vpmu-version: "+version())
	if len(b.opts.CommandLine) > 0 {
		p.Comments = append(p.Comments, "command: "+strings.Join(b.opts.CommandLine, " "))
	}
	p.Comments = append(p.Comments, b.opts.Comments...)
	if b.lost > 0 {
		p.Comments = append(p.Comments, fmt.Sprintf("lost samples: %d of %d (their %s value under %s is an estimate: lost samples times the period %d)",
			b.lost, b.lost+b.nSamples, b.opts.Event, LostFunction, b.period()))
	}
	if b.unmapped > 0 {
		p.Comments = append(p.Comments, fmt.Sprintf("frames outside any known mapping: %d", b.unmapped))
	}
	warnings := b.Warnings()
	for i, w := range warnings {
		if i == maxWarningComments {
			p.Comments = append(p.Comments, fmt.Sprintf("... and %d more warnings", len(warnings)-i))
			break
		}
		p.Comments = append(p.Comments, "warning: "+w)
	}
}

// mainFile returns the executable of the process with the most samples
// (the lower PID on a tie).
func (b *Builder) mainFile() string {
	var best idKey
	var n uint64
	for k, c := range b.pidSamples {
		if c > n || (c == n && (k.vm < best.vm || (k.vm == best.vm && k.id < best.id))) {
			best, n = k, c
		}
	}
	if n == 0 {
		return ""
	}
	return b.procs.mainFile(best.vm, best.id)
}
