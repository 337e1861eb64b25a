package symbolize

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Kallsyms is the kernel's text symbol table, as /proc/kallsyms lists it.
// Kernel symbols carry no sizes: an address belongs to the nearest symbol
// at or below it.
//
// A Kallsyms is immutable once built and safe for concurrent use.
type Kallsyms struct {
	addrs []uint64
	names []string
}

// maxKallsymsLine bounds one line; real lines are under 200 bytes.
const maxKallsymsLine = 4096

// ParseKallsyms reads the /proc/kallsyms format: "ADDR TYPE NAME
// [MODULE]" per line. Only text symbols (types t, T, w, W) are kept. A
// line that does not parse is an error naming its number. When every
// text symbol has address zero (kptr_restrict hides them) the error
// matches [ErrKallsymsHidden].
func ParseKallsyms(r io.Reader) (*Kallsyms, error) {
	type ksym struct {
		addr uint64
		name string
		rank int
	}
	var syms []ksym
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxKallsymsLine)
	hidden := true
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || len(f[1]) != 1 {
			return nil, fmt.Errorf("kallsyms line %d: want \"ADDR TYPE NAME\", got %q", n, line)
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("kallsyms line %d: address %q: %w", n, f[0], err)
		}
		typ := f[1][0]
		switch typ {
		case 't', 'T', 'w', 'W':
		default:
			continue
		}
		if addr != 0 {
			hidden = false
		}
		syms = append(syms, ksym{addr, f[2], bindRank(typ == 'T', typ == 'w' || typ == 'W')})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kallsyms: %w", err)
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("kallsyms: no text symbols")
	}
	if hidden {
		return nil, fmt.Errorf("kallsyms: %w", ErrKallsymsHidden)
	}
	sort.SliceStable(syms, func(i, j int) bool {
		a, b := syms[i], syms[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		return betterAlias(a.rank, a.name, b.rank, b.name)
	})
	k := &Kallsyms{addrs: make([]uint64, 0, len(syms)), names: make([]string, 0, len(syms))}
	for _, s := range syms {
		if n := len(k.addrs); n > 0 && k.addrs[n-1] == s.addr {
			continue // the preferred alias came first
		}
		k.addrs = append(k.addrs, s.addr)
		k.names = append(k.names, s.name)
	}
	return k, nil
}

// ReadKallsyms parses the file at path, normally /proc/kallsyms.
func ReadKallsyms(path string) (*Kallsyms, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k, err := ParseKallsyms(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Lookup returns the name of the kernel function containing addr.
func (k *Kallsyms) Lookup(addr uint64) (string, bool) {
	i := sort.Search(len(k.addrs), func(i int) bool { return k.addrs[i] > addr }) - 1
	if i < 0 {
		return "", false
	}
	return k.names[i], true
}

// Len returns the number of symbols.
func (k *Kallsyms) Len() int { return len(k.addrs) }
