package pmu

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrSysfs is matched (errors.Is) by every error about a malformed PMU
// description in sysfs.
var ErrSysfs = errors.New("malformed sysfs PMU description")

// SysfsError names the sysfs file that could not be read or parsed.
type SysfsError struct {
	Path string
	Err  error
}

func (e *SysfsError) Error() string { return fmt.Sprintf("sysfs %s: %v", e.Path, e.Err) }

// Is makes errors.Is(err, ErrSysfs) true.
func (e *SysfsError) Is(target error) bool { return target == ErrSysfs }

func (e *SysfsError) Unwrap() error { return e.Err }

// devicesDir is where the kernel lists its PMUs, relative to the sysfs root.
const devicesDir = "bus/event_source/devices"

// pmuDesc is one PMU as sysfs describes it.
type pmuDesc struct {
	name    string
	typ     uint32                // perf_event_attr.type, from <pmu>/type
	formats map[string]*pmuFormat // <pmu>/format/*
	aliases map[string]*sysfsAlias
	dir     string
}

// sysfsAlias is one file of <pmu>/events/ with its sibling attribute files.
type sysfsAlias struct {
	name     string
	terms    []rawTerm // parsed content of the file
	text     string    // the content, trimmed
	unit     string    // <name>.unit
	scale    float64   // <name>.scale, 0 when absent
	perPkg   bool      // <name>.per-pkg: count once per package
	snapshot bool      // <name>.snapshot: the value is a level, not a count
	params   []string  // terms written term=? that the user must supply
	path     string
}

// attribute file suffixes in <pmu>/events/.
var aliasAttrs = []string{".scale", ".unit", ".per-pkg", ".snapshot"}

// discoverPMUs reads every PMU under <root>/bus/event_source/devices. A
// missing devices directory means no PMUs. An unreadable or malformed
// file is a *SysfsError naming it; the PMU it belongs to is left out of
// the returned map, every other PMU is in it, and the errors of all
// malformed PMUs are joined.
func discoverPMUs(root string) (map[string]*pmuDesc, error) {
	dir := filepath.Join(root, devicesDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*pmuDesc{}, nil
	}
	if err != nil {
		return map[string]*pmuDesc{}, &SysfsError{Path: dir, Err: err}
	}
	pmus := make(map[string]*pmuDesc, len(ents))
	var errs []error
	for _, ent := range ents {
		path := filepath.Join(dir, ent.Name())
		st, err := os.Stat(path) // entries are symlinks to the device
		if err != nil {
			errs = append(errs, &SysfsError{Path: path, Err: err})
			continue
		}
		if !st.IsDir() {
			errs = append(errs, &SysfsError{Path: path, Err: errors.New("not a directory")})
			continue
		}
		p, err := readPMU(ent.Name(), path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pmus[p.name] = p
	}
	return pmus, errors.Join(errs...)
}

// readPMU reads one PMU directory.
func readPMU(name, dir string) (*pmuDesc, error) {
	p := &pmuDesc{name: name, dir: dir, formats: map[string]*pmuFormat{}, aliases: map[string]*sysfsAlias{}}
	typePath := filepath.Join(dir, "type")
	s, err := readSysfsFile(typePath)
	if err != nil {
		return nil, err
	}
	t, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return nil, &SysfsError{Path: typePath, Err: fmt.Errorf("bad PMU type %q: want a decimal number", s)}
	}
	p.typ = uint32(t)

	fdir := filepath.Join(dir, "format")
	names, err := listDir(fdir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		path := filepath.Join(fdir, n)
		s, err := readSysfsFile(path)
		if err != nil {
			return nil, err
		}
		f, err := parseFormat(n, s)
		if err != nil {
			return nil, &SysfsError{Path: path, Err: err}
		}
		p.formats[n] = f
	}

	if err := p.readAliases(filepath.Join(dir, "events")); err != nil {
		return nil, err
	}
	return p, nil
}

// readAliases reads <pmu>/events: alias files and their .scale, .unit,
// .per-pkg and .snapshot siblings. Each alias must resolve against the
// PMU's formats (except for term=? parameters).
func (p *pmuDesc) readAliases(edir string) error {
	names, err := listDir(edir)
	if err != nil {
		return err
	}
	var attrs []string
	for _, n := range names {
		if aliasAttr(n) != "" {
			attrs = append(attrs, n)
			continue
		}
		path := filepath.Join(edir, n)
		s, err := readSysfsFile(path)
		if err != nil {
			return err
		}
		a := &sysfsAlias{name: n, text: s, path: path}
		terms, terr := splitTerms(s, 0)
		if terr != nil {
			return &SysfsError{Path: path, Err: fmt.Errorf("bad event alias %q: %v", s, terr)}
		}
		a.terms = terms
		p.aliases[strings.ToLower(n)] = a
	}
	for _, n := range attrs {
		suffix := aliasAttr(n)
		path := filepath.Join(edir, n)
		a := p.aliases[strings.ToLower(strings.TrimSuffix(n, suffix))]
		if a == nil {
			return &SysfsError{Path: path, Err: fmt.Errorf("%s file without event %s", suffix, strings.TrimSuffix(n, suffix))}
		}
		s, err := readSysfsFile(path)
		if err != nil {
			return err
		}
		switch suffix {
		case ".unit":
			a.unit = s
		case ".scale":
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return &SysfsError{Path: path, Err: fmt.Errorf("bad scale %q: want a positive number", s)}
			}
			a.scale = v
		case ".per-pkg", ".snapshot":
			if s != "0" && s != "1" {
				return &SysfsError{Path: path, Err: fmt.Errorf("bad flag %q: want 0 or 1", s)}
			}
			if suffix == ".per-pkg" {
				a.perPkg = s == "1"
			} else {
				a.snapshot = s == "1"
			}
		}
	}
	// Resolve every alias now so that a malformed one is reported at
	// discovery, naming its file, and List can show its encoding.
	for _, a := range p.aliases {
		r, terr := p.resolve(a.terms, true)
		if terr != nil {
			return &SysfsError{Path: a.path, Err: fmt.Errorf("bad event alias %q: %v", a.text, terr)}
		}
		a.params = r.params
	}
	return nil
}

// aliasAttr returns the attribute suffix of an events/ file name, or "".
func aliasAttr(name string) string {
	for _, s := range aliasAttrs {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return s
		}
	}
	return ""
}

// listDir lists the regular files of dir, sorted; a missing dir is empty.
func listDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &SysfsError{Path: dir, Err: err}
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// maxSysfsFile bounds what is read from one sysfs attribute file.
const maxSysfsFile = 4096

// readSysfsFile reads a small sysfs file and trims white space. An empty
// file is an error.
func readSysfsFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &SysfsError{Path: path, Err: err}
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxSysfsFile+1))
	if err != nil {
		return "", &SysfsError{Path: path, Err: err}
	}
	if len(buf) > maxSysfsFile {
		return "", &SysfsError{Path: path, Err: fmt.Errorf("file longer than %d bytes", maxSysfsFile)}
	}
	s := strings.TrimSpace(string(buf))
	if s == "" {
		return "", &SysfsError{Path: path, Err: errors.New("empty file")}
	}
	return s, nil
}
