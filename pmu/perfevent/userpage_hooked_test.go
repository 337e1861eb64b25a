package perfevent

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// cpuOps are fake RDPMC and RDTSC instructions.
type cpuOps interface {
	rdpmc(counter uint32) (uint64, bool)
	rdtsc() (uint64, bool)
}

// hookedPage is livePage for tests: step, when set, runs before every
// load and instruction of the loop, so a fake kernel can rewrite the page
// (in Go memory, with the kernel's layout) between any two steps; fake
// replaces RDPMC and RDTSC. Its read method is livePage.read, token for
// token (TestReadLoopsIdentical).
type hookedPage struct {
	page *unix.PerfEventMmapPage
	step func()
	fake cpuOps
}

func (p hookedPage) tick() {
	if p.step != nil {
		p.step()
	}
}

func (p hookedPage) lock() uint32         { p.tick(); return atomic.LoadUint32(&p.page.Lock) }
func (p hookedPage) index() uint32        { p.tick(); return atomic.LoadUint32(&p.page.Index) }
func (p hookedPage) offset() int64        { p.tick(); return atomic.LoadInt64(&p.page.Offset) }
func (p hookedPage) timeEnabled() uint64  { p.tick(); return atomic.LoadUint64(&p.page.Time_enabled) }
func (p hookedPage) timeRunning() uint64  { p.tick(); return atomic.LoadUint64(&p.page.Time_running) }
func (p hookedPage) capabilities() uint64 { p.tick(); return atomic.LoadUint64(&p.page.Capabilities) }
func (p hookedPage) timeOffset() uint64   { p.tick(); return atomic.LoadUint64(&p.page.Time_offset) }
func (p hookedPage) timeCycles() uint64   { p.tick(); return atomic.LoadUint64(&p.page.Time_cycles) }
func (p hookedPage) timeMask() uint64     { p.tick(); return atomic.LoadUint64(&p.page.Time_mask) }

func (p hookedPage) widthShiftMult() (width, shift uint16, mult uint32) {
	p.tick()
	return loadWidthShiftMult(p.page)
}

func (p hookedPage) rdpmc(counter uint32) (uint64, bool) {
	p.tick()
	return p.fake.rdpmc(counter)
}

func (p hookedPage) rdtsc() (uint64, bool) {
	p.tick()
	return p.fake.rdtsc()
}

// read is a copy of livePage.read; keep them identical.
func (p hookedPage) read(maxRetries int) (s pageSnapshot, ok bool) {
	var (
		seq                uint32
		enabled, running   uint64
		caps               uint64
		idx                uint32
		count              int64
		pmc                uint64
		width, shift       uint16
		mult               uint32
		cyc, timeOff       uint64
		timeCyc, timeMask  uint64
		timed, live, short bool
	)
	for retries := 0; ; retries++ {
		if retries > maxRetries {
			s.Retries = retries - 1
			return s, false
		}
		seq = p.lock()
		if seq&1 != 0 {
			continue // an update is in progress on another CPU
		}
		enabled = p.timeEnabled()
		running = p.timeRunning()
		caps = p.capabilities()
		timed, live = false, false
		if caps&unix.PerfCapUserTime != 0 {
			if cyc, timed = p.rdtsc(); timed {
				width, shift, mult = p.widthShiftMult()
				timeOff = p.timeOffset()
				if short = caps&unix.PerfCapUserTimeShort != 0; short {
					timeCyc = p.timeCycles()
					timeMask = p.timeMask()
				}
			}
		}
		idx = p.index()
		count = p.offset()
		if caps&unix.PerfCapUserRdpmc != 0 && idx != 0 {
			width, _, _ = p.widthShiftMult()
			pmc, live = p.rdpmc(idx - 1)
		}
		if p.lock() == seq {
			s.Retries = retries
			break
		}
	}
	if live {
		if width > 0 && width < 64 {
			pmc = uint64(int64(pmc<<(64-width)) >> (64 - width))
		}
		count += int64(pmc)
	}
	if timed {
		if short {
			cyc = timeCyc + (cyc-timeCyc)&timeMask
		}
		delta := cyclesToNanos(cyc, shift, mult) + timeOff
		enabled += delta
		if idx != 0 {
			running += delta
		}
	}
	s.Count = uint64(count)
	s.Enabled, s.Running = enabled, running
	s.Index, s.Caps = idx, caps
	s.Live, s.Timed = live, timed
	return s, true
}

// funcBody returns the printed body of method recv.name in file.
func funcBody(t *testing.T, file, recv, name string) string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != name || fd.Recv == nil {
			continue
		}
		if id, ok := fd.Recv.List[0].Type.(*ast.Ident); ok && id.Name == recv {
			var b strings.Builder
			if err := printer.Fprint(&b, fset, fd.Body); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
	}
	t.Fatalf("%s: no method %s.%s", file, recv, name)
	return ""
}

// TestReadLoopsIdentical makes the loop the tests exercise the loop
// production runs.
func TestReadLoopsIdentical(t *testing.T) {
	live := funcBody(t, "userpage.go", "livePage", "read")
	hooked := funcBody(t, "userpage_hooked_test.go", "hookedPage", "read")
	if live != hooked {
		t.Fatalf("livePage.read and hookedPage.read differ; copy livePage.read into userpage_hooked_test.go\nlive:\n%s\nhooked:\n%s", live, hooked)
	}
}
