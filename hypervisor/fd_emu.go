package hypervisor

import (
	"crypto/rand"
	"encoding/binary"
	"hash/fnv"
	"sync"

	"github.com/vpmu/vpmu/internal/unix"
)

// Files the VMM makes up: the contents of emulated /proc and /sys files
// (memFile), emulated directories (procDir) and the harmless character
// devices (devFile). None of them touches a host fd.

// emuIno is a stable inode number for an emulated path.
func emuIno(p string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(p))
	return h.Sum64()>>1 | 1
}

// memFile is a read-only file with fixed contents, read like a regular
// file (offset, pread, lseek).
type memFile struct {
	fileBase
	name  string
	st    unix.Stat_t
	data  []byte
	opath bool // an O_PATH fd: only fstat works

	mu  sync.Mutex // protects off
	off int64
}

func (f *memFile) Read(_ *Thread, dst guestBuf) (int, error) {
	if f.opath {
		return 0, unix.EBADF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.readAt(dst, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) Pread(_ *Thread, dst guestBuf, off int64) (int, error) {
	if f.opath {
		return 0, unix.EBADF
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	return f.readAt(dst, off)
}

func (f *memFile) readAt(dst guestBuf, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, nil
	}
	src := f.data[off:]
	return dst.fill(func(p []byte) (int, error) {
		n := copy(p, src)
		src = src[n:]
		return n, nil
	})
}

func (f *memFile) Write(*Thread, guestBuf) (int, error)         { return 0, unix.EBADF }
func (f *memFile) Pwrite(*Thread, guestBuf, int64) (int, error) { return 0, unix.EBADF }

func (f *memFile) Seek(off int64, whence int) (int64, error) {
	if f.opath {
		return 0, unix.EBADF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	switch whence {
	case seekSet:
		n = off
	case seekCur:
		n = f.off + off
	case seekEnd:
		n = int64(len(f.data)) + off
	default:
		return 0, unix.EINVAL
	}
	if n < 0 {
		return 0, unix.EINVAL
	}
	f.off = n
	return n, nil
}

func (f *memFile) Stat() (unix.Stat_t, error) { return f.st, nil }
func (f *memFile) fdPath() string             { return f.name }

// lseek whence values.
const (
	seekSet = 0
	seekCur = 1
	seekEnd = 2
)

// dirEntry is one entry of an emulated directory.
type dirEntry struct {
	name string
	typ  uint8 // DT_*
	ino  uint64
}

// Directory entry types (d_type).
const (
	dtUnknown = 0
	dtFIFO    = 1
	dtChr     = 2
	dtDir     = 4
	dtBlk     = 6
	dtReg     = 8
	dtLnk     = 10
	dtSock    = 12
)

// procDir is an emulated directory: a listing read with getdents64,
// and a base for *at calls (resolved lexically from its path). The
// listing is taken at the first getdents64 and again after a rewind, as
// Linux lists /proc/self/fd when it is read, not when it is opened.
type procDir struct {
	fileBase
	path string
	st   unix.Stat_t
	list func() []dirEntry

	mu      sync.Mutex // protects entries and pos
	entries []dirEntry // nil until read
	pos     int        // index of the next entry to return
}

func (d *procDir) Read(*Thread, guestBuf) (int, error) { return 0, unix.EISDIR }
func (d *procDir) Stat() (unix.Stat_t, error)          { return d.st, nil }
func (d *procDir) fdPath() string                      { return d.path }

func (d *procDir) Seek(off int64, whence int) (int64, error) {
	if whence != seekSet || off < 0 {
		return 0, unix.EINVAL
	}
	d.mu.Lock()
	d.pos = int(min(off, int64(len(d.entries))))
	if d.pos == 0 {
		d.entries = nil
	}
	d.mu.Unlock()
	return off, nil
}

// getdents encodes entries from the current position as linux_dirent64
// records into at most size bytes: EINVAL if not even one fits.
func (d *procDir) getdents(size int) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil && d.pos == 0 {
		d.entries = append([]dirEntry{{name: ".", typ: dtDir}, {name: "..", typ: dtDir}}, d.list()...)
	}
	var out []byte
	for d.pos < len(d.entries) {
		e := d.entries[d.pos]
		ino := e.ino
		if ino == 0 {
			// readdir skips entries with inode 0.
			ino = emuIno(d.path + "/" + e.name)
		}
		rec := encodeDirent(ino, int64(d.pos+1), e.typ, e.name)
		if len(out)+len(rec) > size {
			if len(out) == 0 {
				return nil, unix.EINVAL
			}
			break
		}
		out = append(out, rec...)
		d.pos++
	}
	return out, nil
}

// encodeDirent lays out one struct linux_dirent64: d_ino, d_off,
// d_reclen, d_type, the NUL-terminated name, padded to 8 bytes.
func encodeDirent(ino uint64, off int64, typ uint8, name string) []byte {
	n := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b[0:], ino)
	binary.LittleEndian.PutUint64(b[8:], uint64(off))
	binary.LittleEndian.PutUint16(b[16:], uint16(n))
	b[18] = typ
	copy(b[19:], name)
	return b
}

// devKind is one of the character devices the guest may use.
type devKind int

const (
	devNull devKind = iota
	devZero
	devFull
	devRandom
)

// Device numbers of the host's /dev nodes (major, minor).
const (
	memMajor   = 1
	minorNull  = 3
	minorZero  = 5
	minorFull  = 7
	minorRand  = 8
	minorURand = 9
	ttyMajor   = 5
	minorTTY   = 0
)

// devMajorMinor splits a device number as the kernel's huge encoding.
func devMajorMinor(dev uint64) (major, minor uint32) {
	return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff), uint32(dev&0xff | (dev>>12)&^0xff)
}

// devFile emulates /dev/null, /dev/zero, /dev/full, /dev/random and
// /dev/urandom without opening them on the host.
type devFile struct {
	fileBase
	kind devKind
	name string
	st   unix.Stat_t
}

func (f *devFile) Read(_ *Thread, dst guestBuf) (int, error) {
	switch f.kind {
	case devNull:
		return 0, nil
	case devRandom:
		return dst.fill(func(p []byte) (int, error) { return rand.Read(p) })
	default:
		return dst.fill(func(p []byte) (int, error) {
			clear(p)
			return len(p), nil
		})
	}
}

func (f *devFile) Pread(t *Thread, dst guestBuf, _ int64) (int, error) { return f.Read(t, dst) }

func (f *devFile) Write(_ *Thread, src guestBuf) (int, error) {
	if f.kind == devFull {
		return 0, unix.ENOSPC
	}
	return src.Len(), nil
}

func (f *devFile) Pwrite(t *Thread, src guestBuf, _ int64) (int, error) { return f.Write(t, src) }
func (f *devFile) Seek(int64, int) (int64, error)                       { return 0, nil }
func (f *devFile) Stat() (unix.Stat_t, error)                           { return f.st, nil }
func (f *devFile) fdPath() string                                       { return f.name }

// MmapSource: a private mapping of /dev/zero is anonymous memory.
func (f *devFile) MmapSource() (fileSource, error) {
	if f.kind == devZero {
		return zeroSource{f.name}, nil
	}
	return nil, unix.ENODEV
}

// zeroSource reads as zeros.
type zeroSource struct{ name string }

func (z zeroSource) Name() string { return z.name }

func (z zeroSource) ReadAt(p []byte, _ int64) (int, error) {
	clear(p)
	return len(p), nil
}
