package perfevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// ErrCorruptRecord is wrapped by decoding errors: a record is shorter
// than its type and the sampler's format imply, or has an impossible
// length field.
var ErrCorruptRecord = errors.New("corrupt perf record")

// recordHeaderSize is sizeof(struct perf_event_header).
const recordHeaderSize = 8

// decodableSampleTypes are the sample_type bits the decoder can lay out.
// The others (BRANCH_STACK, REGS_USER, STACK_USER, REGS_INTR, AUX) need
// attr fields the decoder does not model, so OpenSampler refuses them.
const decodableSampleTypes = unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_TID |
	unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_ADDR | unix.PERF_SAMPLE_ID | unix.PERF_SAMPLE_STREAM_ID |
	unix.PERF_SAMPLE_CPU | unix.PERF_SAMPLE_PERIOD | unix.PERF_SAMPLE_READ | unix.PERF_SAMPLE_CALLCHAIN |
	unix.PERF_SAMPLE_RAW | unix.PERF_SAMPLE_WEIGHT | unix.PERF_SAMPLE_WEIGHT_STRUCT | unix.PERF_SAMPLE_DATA_SRC |
	unix.PERF_SAMPLE_TRANSACTION | unix.PERF_SAMPLE_PHYS_ADDR | unix.PERF_SAMPLE_CGROUP |
	unix.PERF_SAMPLE_DATA_PAGE_SIZE | unix.PERF_SAMPLE_CODE_PAGE_SIZE

// recordFormat is what decoding needs from the sampler's attr.
type recordFormat struct {
	sampleType  uint64
	readFormat  uint64
	sampleIDAll bool
	// maxGroup bounds the nr of a PERF_SAMPLE_READ group.
	maxGroup int
}

// sampleIDSize is the size of the sample_id trailer.
func (f recordFormat) sampleIDSize() int {
	if !f.sampleIDAll {
		return 0
	}
	n := 0
	for _, bit := range []uint64{unix.PERF_SAMPLE_TID, unix.PERF_SAMPLE_TIME, unix.PERF_SAMPLE_ID,
		unix.PERF_SAMPLE_STREAM_ID, unix.PERF_SAMPLE_CPU, unix.PERF_SAMPLE_IDENTIFIER} {
		if f.sampleType&bit != 0 {
			n += 8
		}
	}
	return n
}

// decoder reads little-endian fields from a record body and remembers
// the first failure.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d of a %d-byte body", ErrCorruptRecord, what, d.off, len(d.b))
	}
}

func (d *decoder) u64(what string) uint64 {
	if d.err != nil || len(d.b)-d.off < 8 {
		d.fail(what)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

// u32pair reads two u32s that share a u64 slot (pid/tid, cpu/res).
func (d *decoder) u32pair(what string) (uint32, uint32) {
	v := d.u64(what)
	return uint32(v), uint32(v >> 32)
}

func (d *decoder) bytes(n uint64, what string) []byte {
	if d.err != nil || n > uint64(len(d.b)-d.off) {
		d.fail(what)
		return nil
	}
	out := bytes.Clone(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return out
}

// cstring reads a NUL-padded string that runs to end (exclusive).
func (d *decoder) cstring(end int, what string) string {
	if d.err != nil || end < d.off || end > len(d.b) {
		d.fail(what)
		return ""
	}
	s := d.b[d.off:end]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	d.off = end
	return string(s)
}

// decodeRecord decodes one record, header included. The result does not
// alias b.
func decodeRecord(b []byte, f recordFormat) (Record, error) {
	if len(b) < recordHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrCorruptRecord, len(b))
	}
	h := RecordHeader{
		Type: RecordType(binary.LittleEndian.Uint32(b)),
		Misc: binary.LittleEndian.Uint16(b[4:]),
	}
	if size := int(binary.LittleEndian.Uint16(b[6:])); size != len(b) {
		return nil, fmt.Errorf("%w: header says %d bytes, record has %d", ErrCorruptRecord, size, len(b))
	}
	body := b[recordHeaderSize:]
	if h.Type == RecordSample {
		return decodeSample(h, body, f)
	}
	// Non-sample records end with the sample_id trailer.
	end := len(body)
	switch h.Type {
	case RecordMmap, RecordLost, RecordComm, RecordExit, RecordThrottle, RecordUnthrottle,
		RecordFork, RecordMmap2, RecordLostSamples:
		end -= f.sampleIDSize()
		if end < 0 {
			return nil, fmt.Errorf("%w: %s record of %d bytes has no room for its sample_id", ErrCorruptRecord, h.Type, len(b))
		}
		h.Identity = decodeIdentity(body[end:], f.sampleType)
	default:
		return &UnknownRecord{RecordHeader: h, Data: bytes.Clone(body)}, nil
	}
	d := &decoder{b: body[:end]}
	var r Record
	switch h.Type {
	case RecordMmap:
		m := &MmapRecord{RecordHeader: h}
		m.PID, m.TID = d.u32pair("pid/tid")
		m.Addr, m.Len, m.Pgoff = d.u64("addr"), d.u64("len"), d.u64("pgoff")
		m.Filename = d.cstring(end, "filename")
		r = m
	case RecordMmap2:
		m := &Mmap2Record{RecordHeader: h}
		m.PID, m.TID = d.u32pair("pid/tid")
		m.Addr, m.Len, m.Pgoff = d.u64("addr"), d.u64("len"), d.u64("pgoff")
		if h.Misc&unix.PERF_RECORD_MISC_MMAP_BUILD_ID != 0 {
			id := d.bytes(24, "build id")
			if d.err == nil {
				if n := int(id[0]); n <= 20 {
					m.BuildID = id[4 : 4+n]
				} else {
					d.fail(fmt.Sprintf("build id size %d > 20", n))
				}
			}
		} else {
			m.Maj, m.Min = d.u32pair("maj/min")
			m.Ino, m.InoGeneration = d.u64("ino"), d.u64("ino_generation")
		}
		m.Prot, m.Flags = d.u32pair("prot/flags")
		m.Filename = d.cstring(end, "filename")
		r = m
	case RecordComm:
		c := &CommRecord{RecordHeader: h}
		c.PID, c.TID = d.u32pair("pid/tid")
		c.Comm = d.cstring(end, "comm")
		r = c
	case RecordFork, RecordExit:
		fk := &ForkRecord{RecordHeader: h}
		fk.PID, fk.PPID = d.u32pair("pid/ppid")
		fk.TID, fk.PTID = d.u32pair("tid/ptid")
		fk.Time = d.u64("time")
		r = fk
	case RecordLost:
		r = &LostRecord{RecordHeader: h, ID: d.u64("id"), Lost: d.u64("lost")}
	case RecordLostSamples:
		r = &LostSamplesRecord{RecordHeader: h, Lost: d.u64("lost")}
	case RecordThrottle, RecordUnthrottle:
		r = &ThrottleRecord{RecordHeader: h, Time: d.u64("time"), ID: d.u64("id"), StreamID: d.u64("stream_id")}
	}
	if d.err != nil {
		return nil, fmt.Errorf("%s record: %w", h.Type, d.err)
	}
	return r, nil
}

// decodeIdentity decodes a sample_id trailer of the right size.
func decodeIdentity(b []byte, st uint64) Identity {
	d := &decoder{b: b}
	var id Identity
	if st&unix.PERF_SAMPLE_TID != 0 {
		id.PID, id.TID = d.u32pair("pid/tid")
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		id.Time = d.u64("time")
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		id.ID = d.u64("id")
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		id.StreamID = d.u64("stream_id")
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		id.CPU, _ = d.u32pair("cpu")
	}
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		id.ID = d.u64("identifier")
	}
	return id
}

// decodeSample decodes PERF_RECORD_SAMPLE's body in the kernel's field
// order (perf_output_sample).
func decodeSample(h RecordHeader, body []byte, f recordFormat) (Record, error) {
	st := f.sampleType
	if bad := st &^ decodableSampleTypes; bad != 0 {
		return nil, fmt.Errorf("sample record: sample_type bits %#x cannot be decoded", bad)
	}
	d := &decoder{b: body}
	s := &SampleRecord{RecordHeader: h}
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		s.Identifier = d.u64("identifier")
	}
	if st&unix.PERF_SAMPLE_IP != 0 {
		s.IP = d.u64("ip")
	}
	if st&unix.PERF_SAMPLE_TID != 0 {
		s.PID, s.TID = d.u32pair("pid/tid")
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		s.Time = d.u64("time")
	}
	if st&unix.PERF_SAMPLE_ADDR != 0 {
		s.Addr = d.u64("addr")
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		s.ID = d.u64("id")
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		s.StreamID = d.u64("stream_id")
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		s.CPU, _ = d.u32pair("cpu")
	}
	if st&unix.PERF_SAMPLE_PERIOD != 0 {
		s.Period = d.u64("period")
	}
	if st&unix.PERF_SAMPLE_READ != 0 && d.err == nil {
		rv := &ReadValues{}
		n, err := decodeReadFormat(body[d.off:], f.readFormat, f.maxGroup, rv)
		if err != nil {
			return nil, fmt.Errorf("%w: sample read values: %w", ErrCorruptRecord, err)
		}
		d.off += n
		s.Read = rv
	}
	if st&unix.PERF_SAMPLE_CALLCHAIN != 0 {
		nr := d.u64("callchain nr")
		if d.err == nil && nr > uint64(len(body)-d.off)/8 {
			d.fail(fmt.Sprintf("callchain of %d entries", nr))
		}
		if d.err == nil {
			s.Callchain = make([]uint64, nr)
			for i := range s.Callchain {
				s.Callchain[i] = d.u64("callchain")
			}
		}
	}
	if st&unix.PERF_SAMPLE_RAW != 0 {
		// A u32 size, then size bytes, padded by the kernel so that the
		// two together end on a u64 boundary.
		if d.err == nil && len(body)-d.off >= 4 {
			n := binary.LittleEndian.Uint32(body[d.off:])
			d.off += 4
			s.Raw = d.bytes(uint64(n), "raw data")
		} else {
			d.fail("raw size")
		}
	}
	if st&(unix.PERF_SAMPLE_WEIGHT|unix.PERF_SAMPLE_WEIGHT_STRUCT) != 0 {
		s.Weight = d.u64("weight")
	}
	if st&unix.PERF_SAMPLE_DATA_SRC != 0 {
		s.DataSrc = d.u64("data_src")
	}
	if st&unix.PERF_SAMPLE_TRANSACTION != 0 {
		s.Transaction = d.u64("transaction")
	}
	if st&unix.PERF_SAMPLE_PHYS_ADDR != 0 {
		s.PhysAddr = d.u64("phys_addr")
	}
	if st&unix.PERF_SAMPLE_CGROUP != 0 {
		s.Cgroup = d.u64("cgroup")
	}
	if st&unix.PERF_SAMPLE_DATA_PAGE_SIZE != 0 {
		s.DataPageSize = d.u64("data_page_size")
	}
	if st&unix.PERF_SAMPLE_CODE_PAGE_SIZE != 0 {
		s.CodePageSize = d.u64("code_page_size")
	}
	if d.err != nil {
		return nil, fmt.Errorf("sample record: %w", d.err)
	}
	return s, nil
}
