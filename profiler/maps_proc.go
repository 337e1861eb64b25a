package profiler

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxMapsLine bounds one line of a maps file; the kernel limits paths
// to PATH_MAX (4096) bytes.
const maxMapsLine = 8192

// ParseMaps reads the /proc/PID/maps format:
//
//	00400000-00452000 r-xp 00001000 08:02 173521   /usr/bin/app
//
// Every mapping is returned, in file order; File is the path (spaces
// included) or pseudo-name, "" for anonymous memory. A line that does not
// parse is an error naming its number and the field at fault.
func ParseMaps(r io.Reader) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxMapsLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMapsLine(line)
		if err != nil {
			return nil, fmt.Errorf("maps line %d: %w", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("maps: %w", err)
	}
	return out, nil
}

// parseMapsLine parses "start-limit perms offset dev inode [path]".
func parseMapsLine(line string) (Mapping, error) {
	var fields [5]string
	rest := line
	for i := range fields {
		rest = strings.TrimLeft(rest, " \t")
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		fields[i], rest = rest[:end], rest[end:]
		if fields[i] == "" {
			return Mapping{}, fmt.Errorf("want 5 fields before the path, got %d in %q", i, line)
		}
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return Mapping{}, fmt.Errorf("address range %q: no '-'", fields[0])
	}
	start, err := strconv.ParseUint(lo, 16, 64)
	if err != nil {
		return Mapping{}, fmt.Errorf("address range %q: %w", fields[0], err)
	}
	limit, err := strconv.ParseUint(hi, 16, 64)
	if err != nil {
		return Mapping{}, fmt.Errorf("address range %q: %w", fields[0], err)
	}
	if limit <= start {
		return Mapping{}, fmt.Errorf("address range %q: empty or inverted", fields[0])
	}
	if len(fields[1]) != 4 {
		return Mapping{}, fmt.Errorf("permissions %q: want 4 characters", fields[1])
	}
	off, err := strconv.ParseUint(fields[2], 16, 64)
	if err != nil {
		return Mapping{}, fmt.Errorf("offset %q: %w", fields[2], err)
	}
	if !strings.Contains(fields[3], ":") {
		return Mapping{}, fmt.Errorf("device %q: want major:minor", fields[3])
	}
	if _, err := strconv.ParseUint(fields[4], 10, 64); err != nil {
		return Mapping{}, fmt.Errorf("inode %q: %w", fields[4], err)
	}
	return Mapping{Start: start, Limit: limit, Offset: off, File: strings.TrimLeft(rest, " \t")}, nil
}

// ReadProcMaps reads /proc/PID/maps of a live process on this host.
func ReadProcMaps(pid int) ([]Mapping, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/maps"
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	maps, err := ParseMaps(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return maps, nil
}
