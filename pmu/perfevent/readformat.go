package perfevent

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// errShortRead is wrapped by decoding errors when a buffer ends before
// the layout its read format implies.
var errShortRead = errors.New("buffer too short for read format")

// CountValue is one event's entry in a struct read_format: the count and,
// if the read format asked for them, the event ID and the number of lost
// samples.
type CountValue struct {
	Value uint64
	ID    uint64
	Lost  uint64
}

// ReadValues is a decoded struct read_format, as returned by read(2) on a
// counter fd or carried by a sample with PERF_SAMPLE_READ. Without
// PERF_FORMAT_GROUP it has one value. Enabled and Running are in
// nanoseconds and are 0 unless the read format asked for them.
type ReadValues struct {
	Enabled, Running uint64
	Values           []CountValue
}

// readFormatSize returns the size in bytes of a struct read_format with
// nr events.
func readFormatSize(format uint64, nr int) int {
	per := 8 // value
	if format&unix.PERF_FORMAT_ID != 0 {
		per += 8
	}
	if format&unix.PERF_FORMAT_LOST != 0 {
		per += 8
	}
	hdr := 0
	if format&unix.PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
		hdr += 8
	}
	if format&unix.PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
		hdr += 8
	}
	if format&unix.PERF_FORMAT_GROUP != 0 {
		return 8 + hdr + nr*per
	}
	return hdr + per
}

// decodeReadFormat decodes a struct read_format laid out per format from
// the start of b into rv, reusing rv.Values' storage. It returns the
// number of bytes consumed. maxNR bounds the group size it accepts, so a
// corrupt nr cannot make it allocate without limit.
func decodeReadFormat(b []byte, format uint64, maxNR int, rv *ReadValues) (int, error) {
	le := binary.LittleEndian
	off := 0
	u64 := func() (uint64, bool) {
		if len(b)-off < 8 {
			return 0, false
		}
		v := le.Uint64(b[off:])
		off += 8
		return v, true
	}
	short := func(what string) (int, error) {
		return 0, fmt.Errorf("read_format %#x: %s at byte %d of %d: %w", format, what, off, len(b), errShortRead)
	}
	nr := uint64(1)
	if format&unix.PERF_FORMAT_GROUP != 0 {
		var ok bool
		if nr, ok = u64(); !ok {
			return short("nr")
		}
		if nr > uint64(maxNR) {
			return 0, fmt.Errorf("read_format: group of %d events, more than the %d expected", nr, maxNR)
		}
	}
	rv.Enabled, rv.Running = 0, 0
	readTimes := func() bool {
		var ok bool
		if format&unix.PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
			if rv.Enabled, ok = u64(); !ok {
				return false
			}
		}
		if format&unix.PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
			if rv.Running, ok = u64(); !ok {
				return false
			}
		}
		return true
	}
	rv.Values = rv.Values[:0]
	if format&unix.PERF_FORMAT_GROUP != 0 && !readTimes() {
		return short("times")
	}
	for i := uint64(0); i < nr; i++ {
		var cv CountValue
		var ok bool
		if cv.Value, ok = u64(); !ok {
			return short("value")
		}
		if format&unix.PERF_FORMAT_GROUP == 0 && !readTimes() {
			return short("times")
		}
		if format&unix.PERF_FORMAT_ID != 0 {
			if cv.ID, ok = u64(); !ok {
				return short("id")
			}
		}
		if format&unix.PERF_FORMAT_LOST != 0 {
			if cv.Lost, ok = u64(); !ok {
				return short("lost")
			}
		}
		rv.Values = append(rv.Values, cv)
	}
	return off, nil
}
