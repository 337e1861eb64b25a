package perfevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// memRing is an in-memory ring: a data area and head/tail positions, with
// a producer that writes records the way the kernel does.
type memRing struct {
	data       []byte
	head, tail uint64
	stores     int
}

func (m *memRing) loadHead() uint64   { return m.head }
func (m *memRing) loadTail() uint64   { return m.tail }
func (m *memRing) storeTail(t uint64) { m.tail = t; m.stores++ }

// push writes rec at head, wrapping, if it fits in the free space.
func (m *memRing) push(rec []byte) bool {
	if uint64(len(rec)) > uint64(len(m.data))-(m.head-m.tail) {
		return false
	}
	mask := uint64(len(m.data)) - 1
	for i, c := range rec {
		m.data[(m.head+uint64(i))&mask] = c
	}
	m.head += uint64(len(rec))
	return true
}

// rawRecord builds a record of the given size whose body is a pattern
// derived from seq, so reordering or tearing is detectable.
func rawRecord(seq int, size int) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b, 100+uint32(seq%50))
	binary.LittleEndian.PutUint16(b[6:], uint16(size))
	for i := 8; i < size; i++ {
		b[i] = byte(seq*7 + i)
	}
	return b
}

func TestRingWrapAround(t *testing.T) {
	// Headers are 8-byte aligned and never straddle the end; bodies do.
	// Start at several positions near the end (and past 2^32, since
	// positions are free-running) and let records of every size cross it.
	for _, start := range []uint64{0, 200, 232, 248, 256 - 8, 1<<32 - 16} {
		m := &memRing{data: make([]byte, 256), head: start, tail: start}
		r, err := newRing(m, m.data)
		if err != nil {
			t.Fatal(err)
		}
		var want [][]byte
		for seq, size := range []int{24, 40, 8, 64, 16, 48} {
			rec := rawRecord(seq, size)
			if !m.push(rec) {
				t.Fatalf("push %d", seq)
			}
			want = append(want, rec)
		}
		for i, w := range want {
			got, ok, err := r.next()
			if err != nil || !ok {
				t.Fatalf("start %d record %d: ok %v err %v", start, i, ok, err)
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("start %d record %d: got %x, want %x", start, i, got, w)
			}
			r.advance()
		}
		if _, ok, err := r.next(); ok || err != nil {
			t.Fatalf("start %d: ring not empty after all records: ok %v err %v", start, ok, err)
		}
		if m.tail != m.head {
			t.Errorf("start %d: data_tail %d, head %d", start, m.tail, m.head)
		}
	}
}

// TestRingProducerConsumer interleaves a producer and the ring walker at
// random for many records of random sizes, checking every record arrives
// once, in order and intact, and that the producer only reuses space the
// reader released.
func TestRingProducerConsumer(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := &memRing{data: make([]byte, 512)}
	r, err := newRing(m, m.data)
	if err != nil {
		t.Fatal(err)
	}
	var queue [][]byte
	sent, got := 0, 0
	for got < 20000 {
		if rng.IntN(2) == 0 && sent < 20000 {
			rec := rawRecord(sent, 8*(1+rng.IntN(20)))
			if m.push(rec) {
				queue = append(queue, rec)
				sent++
			}
			continue
		}
		rec, ok, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if len(queue) != 0 {
				t.Fatalf("ring empty with %d records queued", len(queue))
			}
			continue
		}
		if !bytes.Equal(rec, queue[0]) {
			t.Fatalf("record %d: got %x, want %x", got, rec, queue[0])
		}
		queue = queue[1:]
		r.advance()
		got++
	}
}

func TestRingCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  []byte
		head uint64 // 0: len(rec)
	}{
		{"zero size", []byte{9, 0, 0, 0, 0, 0, 0, 0}, 0},
		{"unaligned size", []byte{9, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0},
		{"past head", []byte{9, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0},
		{"partial header", []byte{9, 0, 0, 0}, 4},
		{"head beyond ring", []byte{9, 0, 0, 0, 0, 0, 8, 0}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &memRing{data: make([]byte, 256)}
			copy(m.data, tc.rec)
			m.head = uint64(len(tc.rec))
			if tc.head != 0 {
				m.head = tc.head
			}
			r, _ := newRing(m, m.data)
			_, _, err := r.next()
			if !errors.Is(err, ErrCorruptRing) {
				t.Fatalf("err %v, want ErrCorruptRing", err)
			}
			t.Log(err)
			r.skipAll()
			if m.tail != m.head {
				t.Errorf("skipAll left data_tail %d, head %d", m.tail, m.head)
			}
			// After resync, new records read fine.
			if tc.head != 1000 {
				rec := rawRecord(1, 16)
				m.push(rec)
				got, ok, err := r.next()
				if err != nil || !ok || !bytes.Equal(got, rec) {
					t.Fatalf("after resync: %x %v %v", got, ok, err)
				}
			}
		})
	}
	if _, err := newRing(&memRing{}, make([]byte, 100)); err == nil {
		t.Error("ring of 100 bytes accepted")
	}
}

func FuzzRing(f *testing.F) {
	seed := &memRing{data: make([]byte, 256), head: 240, tail: 240}
	seed.push(rawRecord(1, 24))
	seed.push(rawRecord(2, 40))
	f.Add(seed.data, seed.tail, seed.head)
	f.Add(make([]byte, 64), uint64(0), uint64(64))
	f.Fuzz(func(t *testing.T, data []byte, tail, head uint64) {
		size := 64
		for size < len(data) && size < 4096 {
			size *= 2
		}
		m := &memRing{data: make([]byte, size), head: head, tail: tail}
		copy(m.data, data)
		r, err := newRing(m, m.data)
		if err != nil {
			t.Fatal(err)
		}
		var consumed uint64
		for i := 0; i < 1000; i++ {
			rec, ok, err := r.next()
			if err != nil {
				r.skipAll()
				if m.tail != head {
					t.Fatalf("skipAll: tail %d head %d", m.tail, head)
				}
				return
			}
			if !ok {
				if m.tail != head {
					t.Fatalf("empty with tail %d head %d", m.tail, head)
				}
				return
			}
			if len(rec) < recordHeaderSize || len(rec)%8 != 0 || int(binary.LittleEndian.Uint16(rec[6:])) != len(rec) {
				t.Fatalf("bad record of %d bytes returned", len(rec))
			}
			consumed += uint64(len(rec))
			if consumed > head-tail {
				t.Fatalf("consumed %d bytes of %d available", consumed, head-tail)
			}
			decodeRecord(rec, fmtAll) // must not panic on ring garbage
			r.advance()
		}
	})
}
