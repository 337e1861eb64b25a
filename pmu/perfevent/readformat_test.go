package perfevent

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// encodeReadFormat lays rv out as the kernel does for format.
func encodeReadFormat(format uint64, rv ReadValues) []byte {
	var b []byte
	put := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	times := func() {
		if format&unix.PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
			put(rv.Enabled)
		}
		if format&unix.PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
			put(rv.Running)
		}
	}
	if format&unix.PERF_FORMAT_GROUP != 0 {
		put(uint64(len(rv.Values)))
		times()
	}
	for _, v := range rv.Values {
		put(v.Value)
		if format&unix.PERF_FORMAT_GROUP == 0 {
			times()
		}
		if format&unix.PERF_FORMAT_ID != 0 {
			put(v.ID)
		}
		if format&unix.PERF_FORMAT_LOST != 0 {
			put(v.Lost)
		}
	}
	return b
}

func TestDecodeReadFormat(t *testing.T) {
	three := []CountValue{{Value: 10, ID: 100, Lost: 1}, {Value: 20, ID: 200, Lost: 2}, {Value: 30, ID: 300, Lost: 3}}
	for _, tc := range []struct {
		name   string
		format uint64
		rv     ReadValues
	}{
		{"group full", groupReadFormat | unix.PERF_FORMAT_LOST, ReadValues{Enabled: 7, Running: 5, Values: three}},
		{"group no lost", groupReadFormat, ReadValues{Enabled: 7, Running: 5, Values: []CountValue{{10, 100, 0}, {20, 200, 0}}}},
		{"group values only", unix.PERF_FORMAT_GROUP, ReadValues{Values: []CountValue{{10, 0, 0}, {20, 0, 0}}}},
		{"group enabled only", unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_TOTAL_TIME_ENABLED, ReadValues{Enabled: 9, Values: []CountValue{{10, 0, 0}}}},
		{"single", singleReadFormat, ReadValues{Enabled: 7, Running: 5, Values: []CountValue{{10, 100, 0}}}},
		{"single bare", 0, ReadValues{Values: []CountValue{{42, 0, 0}}}},
		{"single running lost", unix.PERF_FORMAT_TOTAL_TIME_RUNNING | unix.PERF_FORMAT_LOST, ReadValues{Running: 3, Values: []CountValue{{42, 0, 9}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeReadFormat(tc.format, tc.rv)
			if len(b) != readFormatSize(tc.format, len(tc.rv.Values)) {
				t.Fatalf("readFormatSize = %d, encoded %d", readFormatSize(tc.format, len(tc.rv.Values)), len(b))
			}
			var got ReadValues
			n, err := decodeReadFormat(append(b, 0xff, 0xff), tc.format, 8, &got)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) {
				t.Errorf("consumed %d of %d", n, len(b))
			}
			if !reflect.DeepEqual(got, tc.rv) {
				t.Errorf("got %+v, want %+v", got, tc.rv)
			}
			for cut := 0; cut < len(b); cut++ {
				if _, err := decodeReadFormat(b[:cut], tc.format, 8, &got); !errors.Is(err, errShortRead) {
					t.Fatalf("truncated to %d: err %v, want errShortRead", cut, err)
				}
			}
		})
	}
	b := encodeReadFormat(groupReadFormat, ReadValues{Values: three})
	if _, err := decodeReadFormat(b, groupReadFormat, 2, &ReadValues{}); err == nil {
		t.Error("group of 3 accepted with maxNR 2")
	}
}

func FuzzDecodeReadFormat(f *testing.F) {
	f.Add(encodeReadFormat(groupReadFormat, ReadValues{Enabled: 1, Running: 1, Values: []CountValue{{1, 2, 0}}}), uint64(groupReadFormat))
	f.Add(encodeReadFormat(singleReadFormat, ReadValues{Values: []CountValue{{1, 2, 0}}}), uint64(singleReadFormat))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, uint64(unix.PERF_FORMAT_GROUP))
	f.Fuzz(func(t *testing.T, b []byte, format uint64) {
		format &= unix.PERF_FORMAT_MAX - 1
		var rv ReadValues
		n, err := decodeReadFormat(b, format, 64, &rv)
		if err != nil {
			return
		}
		if n > len(b) || n != readFormatSize(format, len(rv.Values)) {
			t.Fatalf("consumed %d of %d, size for %d values is %d", n, len(b), len(rv.Values), readFormatSize(format, len(rv.Values)))
		}
		if again := encodeReadFormat(format, rv); string(again) != string(b[:n]) {
			t.Fatalf("re-encoding differs")
		}
	})
}
