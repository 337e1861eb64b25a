package perfevent

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// recordWriter lays records out as the kernel does.
type recordWriter struct{ b []byte }

func (w *recordWriter) u64(v uint64)        { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *recordWriter) u32pair(a, b uint32) { w.u64(uint64(a) | uint64(b)<<32) }

// str writes s NUL-terminated and padded to 8 bytes.
func (w *recordWriter) str(s string) {
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	for len(w.b)%8 != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *recordWriter) identity(id Identity, f recordFormat) {
	if !f.sampleIDAll {
		return
	}
	st := f.sampleType
	if st&unix.PERF_SAMPLE_TID != 0 {
		w.u32pair(id.PID, id.TID)
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		w.u64(id.Time)
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		w.u64(id.ID)
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		w.u64(id.StreamID)
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		w.u32pair(id.CPU, 0)
	}
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		w.u64(id.ID)
	}
}

// encodeRecord is the inverse of decodeRecord, for tests.
func encodeRecord(r Record, f recordFormat) []byte {
	h := r.Header()
	w := &recordWriter{b: make([]byte, recordHeaderSize)}
	switch r := r.(type) {
	case *SampleRecord:
		st := f.sampleType
		if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
			w.u64(r.Identifier)
		}
		if st&unix.PERF_SAMPLE_IP != 0 {
			w.u64(r.IP)
		}
		if st&unix.PERF_SAMPLE_TID != 0 {
			w.u32pair(r.PID, r.TID)
		}
		if st&unix.PERF_SAMPLE_TIME != 0 {
			w.u64(r.Time)
		}
		if st&unix.PERF_SAMPLE_ADDR != 0 {
			w.u64(r.Addr)
		}
		if st&unix.PERF_SAMPLE_ID != 0 {
			w.u64(r.ID)
		}
		if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
			w.u64(r.StreamID)
		}
		if st&unix.PERF_SAMPLE_CPU != 0 {
			w.u32pair(r.CPU, 0)
		}
		if st&unix.PERF_SAMPLE_PERIOD != 0 {
			w.u64(r.Period)
		}
		if st&unix.PERF_SAMPLE_READ != 0 {
			w.b = append(w.b, encodeReadFormat(f.readFormat, *r.Read)...)
		}
		if st&unix.PERF_SAMPLE_CALLCHAIN != 0 {
			w.u64(uint64(len(r.Callchain)))
			for _, ip := range r.Callchain {
				w.u64(ip)
			}
		}
		if st&unix.PERF_SAMPLE_RAW != 0 {
			w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(r.Raw)))
			w.b = append(w.b, r.Raw...)
		}
		for _, x := range []struct {
			bit uint64
			v   uint64
		}{
			{unix.PERF_SAMPLE_WEIGHT | unix.PERF_SAMPLE_WEIGHT_STRUCT, r.Weight},
			{unix.PERF_SAMPLE_DATA_SRC, r.DataSrc},
			{unix.PERF_SAMPLE_TRANSACTION, r.Transaction},
			{unix.PERF_SAMPLE_PHYS_ADDR, r.PhysAddr},
			{unix.PERF_SAMPLE_CGROUP, r.Cgroup},
			{unix.PERF_SAMPLE_DATA_PAGE_SIZE, r.DataPageSize},
			{unix.PERF_SAMPLE_CODE_PAGE_SIZE, r.CodePageSize},
		} {
			if st&x.bit != 0 {
				w.u64(x.v)
			}
		}
	case *MmapRecord:
		w.u32pair(r.PID, r.TID)
		w.u64(r.Addr)
		w.u64(r.Len)
		w.u64(r.Pgoff)
		w.str(r.Filename)
		w.identity(h.Identity, f)
	case *Mmap2Record:
		w.u32pair(r.PID, r.TID)
		w.u64(r.Addr)
		w.u64(r.Len)
		w.u64(r.Pgoff)
		if h.Misc&unix.PERF_RECORD_MISC_MMAP_BUILD_ID != 0 {
			id := make([]byte, 24)
			id[0] = byte(len(r.BuildID))
			copy(id[4:], r.BuildID)
			w.b = append(w.b, id...)
		} else {
			w.u32pair(r.Maj, r.Min)
			w.u64(r.Ino)
			w.u64(r.InoGeneration)
		}
		w.u32pair(r.Prot, r.Flags)
		w.str(r.Filename)
		w.identity(h.Identity, f)
	case *CommRecord:
		w.u32pair(r.PID, r.TID)
		w.str(r.Comm)
		w.identity(h.Identity, f)
	case *ForkRecord:
		w.u32pair(r.PID, r.PPID)
		w.u32pair(r.TID, r.PTID)
		w.u64(r.Time)
		w.identity(h.Identity, f)
	case *LostRecord:
		w.u64(r.ID)
		w.u64(r.Lost)
		w.identity(h.Identity, f)
	case *LostSamplesRecord:
		w.u64(r.Lost)
		w.identity(h.Identity, f)
	case *ThrottleRecord:
		w.u64(r.Time)
		w.u64(r.ID)
		w.u64(r.StreamID)
		w.identity(h.Identity, f)
	case *UnknownRecord:
		w.b = append(w.b, r.Data...)
	}
	binary.LittleEndian.PutUint32(w.b, uint32(h.Type))
	binary.LittleEndian.PutUint16(w.b[4:], h.Misc)
	binary.LittleEndian.PutUint16(w.b[6:], uint16(len(w.b)))
	return w.b
}

var (
	fmtDefault = recordFormat{sampleType: uint64(DefaultSampleType), readFormat: groupReadFormat, sampleIDAll: true, maxGroup: 4}
	fmtAll     = recordFormat{
		sampleType: uint64(SampleIdentifier | SampleIP | SampleTID | SampleTime | SampleAddr | SampleID | SampleStreamID | SampleCPU |
			SamplePeriod | SampleRead | SampleCallchain | SampleRaw | SampleWeight | SampleDataSrc | SampleTransaction |
			SamplePhysAddr | SampleCgroup | SampleDataPageSize | SampleCodePageSize),
		readFormat: groupReadFormat | unix.PERF_FORMAT_LOST, sampleIDAll: true, maxGroup: 4,
	}
	fmtNoTrailer = recordFormat{sampleType: uint64(SampleIP | SampleTID), sampleIDAll: false}
)

// testRecords returns records that exercise every decoded type under f.
func testRecords(f recordFormat) []Record {
	id := Identity{}
	st := f.sampleType
	if f.sampleIDAll {
		if st&unix.PERF_SAMPLE_TID != 0 {
			id.PID, id.TID = 100, 101
		}
		if st&unix.PERF_SAMPLE_TIME != 0 {
			id.Time = 123456789
		}
		if st&(unix.PERF_SAMPLE_ID|unix.PERF_SAMPLE_IDENTIFIER) != 0 {
			id.ID = 77
		}
		if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
			id.StreamID = 78
		}
		if st&unix.PERF_SAMPLE_CPU != 0 {
			id.CPU = 1
		}
	}
	hdr := func(t RecordType, misc uint16) RecordHeader {
		return RecordHeader{Type: t, Misc: misc, Identity: id}
	}
	s := &SampleRecord{RecordHeader: RecordHeader{Type: RecordSample, Misc: unix.PERF_RECORD_MISC_USER}}
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		s.Identifier = 77
	}
	if st&unix.PERF_SAMPLE_IP != 0 {
		s.IP = 0x401234
	}
	if st&unix.PERF_SAMPLE_TID != 0 {
		s.PID, s.TID = 100, 101
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		s.Time = 99
	}
	if st&unix.PERF_SAMPLE_ADDR != 0 {
		s.Addr = 0xdead
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		s.ID = 77
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		s.StreamID = 78
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		s.CPU = 1
	}
	if st&unix.PERF_SAMPLE_PERIOD != 0 {
		s.Period = 100000
	}
	if st&unix.PERF_SAMPLE_READ != 0 {
		s.Read = &ReadValues{Enabled: 5, Running: 4, Values: []CountValue{{Value: 1, ID: 77, Lost: 0}, {Value: 2, ID: 79, Lost: 3}}}
	}
	if st&unix.PERF_SAMPLE_CALLCHAIN != 0 {
		s.Callchain = []uint64{uint64(1<<64 - 512), 0x401234, 0x401000}
	}
	if st&unix.PERF_SAMPLE_RAW != 0 {
		s.Raw = []byte{1, 2, 3, 4} // 4 + 4 bytes: u64-aligned
	}
	if st&unix.PERF_SAMPLE_WEIGHT != 0 {
		s.Weight = 5
	}
	if st&unix.PERF_SAMPLE_DATA_SRC != 0 {
		s.DataSrc = 6
	}
	if st&unix.PERF_SAMPLE_TRANSACTION != 0 {
		s.Transaction = 7
	}
	if st&unix.PERF_SAMPLE_PHYS_ADDR != 0 {
		s.PhysAddr = 8
	}
	if st&unix.PERF_SAMPLE_CGROUP != 0 {
		s.Cgroup = 9
	}
	if st&unix.PERF_SAMPLE_DATA_PAGE_SIZE != 0 {
		s.DataPageSize = 4096
	}
	if st&unix.PERF_SAMPLE_CODE_PAGE_SIZE != 0 {
		s.CodePageSize = 4096
	}
	return []Record{
		s,
		&MmapRecord{RecordHeader: hdr(RecordMmap, unix.PERF_RECORD_MISC_USER), PID: 100, TID: 100, Addr: 0x400000, Len: 0x1000, Pgoff: 0, Filename: "/bin/x"},
		&Mmap2Record{RecordHeader: hdr(RecordMmap2, unix.PERF_RECORD_MISC_USER), PID: 100, TID: 100, Addr: 0x400000, Len: 0x2000, Pgoff: 0x1000,
			Maj: 8, Min: 1, Ino: 4242, InoGeneration: 7, Prot: 5, Flags: 2, Filename: "/usr/lib/libc.so.6"},
		&Mmap2Record{RecordHeader: hdr(RecordMmap2, unix.PERF_RECORD_MISC_USER|unix.PERF_RECORD_MISC_MMAP_BUILD_ID), PID: 100, TID: 100, Addr: 0x400000, Len: 0x2000,
			BuildID: []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Prot: 5, Flags: 2, Filename: "/bin/exactly8"},
		&CommRecord{RecordHeader: hdr(RecordComm, unix.PERF_RECORD_MISC_COMM_EXEC), PID: 100, TID: 100, Comm: "workload"},
		&ForkRecord{RecordHeader: hdr(RecordFork, 0), PID: 100, PPID: 1, TID: 102, PTID: 100, Time: 5},
		&ForkRecord{RecordHeader: hdr(RecordExit, 0), PID: 100, PPID: 1, TID: 102, PTID: 100, Time: 6},
		&LostRecord{RecordHeader: hdr(RecordLost, 0), ID: 77, Lost: 12},
		&LostSamplesRecord{RecordHeader: hdr(RecordLostSamples, 0), Lost: 3},
		&ThrottleRecord{RecordHeader: hdr(RecordThrottle, 0), Time: 1, ID: 77, StreamID: 78},
		&ThrottleRecord{RecordHeader: hdr(RecordUnthrottle, 0), Time: 2, ID: 77, StreamID: 78},
		&UnknownRecord{RecordHeader: RecordHeader{Type: 14, Misc: 0x2000}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
	}
}

func TestDecodeRecordRoundTrip(t *testing.T) {
	for _, f := range []recordFormat{fmtDefault, fmtAll, fmtNoTrailer} {
		for _, want := range testRecords(f) {
			b := encodeRecord(want, f)
			got, err := decodeRecord(b, f)
			if err != nil {
				t.Fatalf("%s (sample_type %#x): %v", want.Header().Type, f.sampleType, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (sample_type %#x):\n got %+v\nwant %+v", want.Header().Type, f.sampleType, got, want)
			}
			// Every shorter record with a consistent header is refused
			// or decodes without panicking; fixed-size types refuse.
			for cut := recordHeaderSize; cut < len(b); cut += 8 {
				short := append([]byte(nil), b[:cut]...)
				binary.LittleEndian.PutUint16(short[6:], uint16(cut))
				_, err := decodeRecord(short, f)
				if err == nil {
					switch want.(type) {
					case *MmapRecord, *Mmap2Record, *CommRecord, *UnknownRecord, *SampleRecord:
						continue // strings, raw data and optional tails may shrink
					}
					t.Errorf("%s cut to %d bytes decoded without error", want.Header().Type, cut)
				} else if !errors.Is(err, ErrCorruptRecord) {
					t.Errorf("%s cut to %d: error %v does not wrap ErrCorruptRecord", want.Header().Type, cut, err)
				}
			}
		}
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		f    recordFormat
	}{
		{"short header", []byte{9, 0, 0, 0}, fmtDefault},
		{"size mismatch", []byte{9, 0, 0, 0, 0, 0, 16, 0}, fmtDefault},
		{"sample too short", []byte{9, 0, 0, 0, 0, 0, 8, 0}, fmtDefault},
		{"huge callchain", append([]byte{9, 0, 0, 0, 0, 0, 24, 0}, append(make([]byte, 8), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f)...), recordFormat{sampleType: unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_CALLCHAIN}},
		{"undecodable sample type", []byte{9, 0, 0, 0, 0, 0, 8, 0}, recordFormat{sampleType: unix.PERF_SAMPLE_REGS_USER}},
		{"lost without trailer room", []byte{2, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0}, fmtAll},
		{"build id too long", func() []byte {
			r := &Mmap2Record{RecordHeader: RecordHeader{Type: RecordMmap2, Misc: unix.PERF_RECORD_MISC_MMAP_BUILD_ID}, BuildID: make([]byte, 20), Filename: "x"}
			b := encodeRecord(r, fmtNoTrailer)
			b[recordHeaderSize+32] = 21
			return b
		}(), fmtNoTrailer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeRecord(tc.b, tc.f)
			if err == nil {
				t.Fatalf("decoded %+v", r)
			}
			t.Log(err)
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, rf := range []recordFormat{fmtDefault, fmtAll} {
		for _, r := range testRecords(rf) {
			f.Add(encodeRecord(r, rf), rf.sampleType, rf.readFormat, true)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, sampleType, readFormat uint64, idAll bool) {
		rf := recordFormat{sampleType: sampleType & decodableSampleTypes, readFormat: readFormat & (unix.PERF_FORMAT_MAX - 1), sampleIDAll: idAll, maxGroup: 16}
		r, err := decodeRecord(b, rf)
		if err != nil {
			return
		}
		if r.Header().Type != RecordType(binary.LittleEndian.Uint32(b)) {
			t.Fatalf("type %d decoded as %d", binary.LittleEndian.Uint32(b), r.Header().Type)
		}
		if s, ok := r.(*SampleRecord); ok && len(s.Callchain)*8 > len(b) {
			t.Fatalf("callchain of %d entries from %d bytes", len(s.Callchain), len(b))
		}
	})
}
