package hypervisor

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
)

// Auxiliary-vector types (include/uapi/linux/auxvec.h, asm/auxvec.h).
const (
	atNull        = 0
	atPhdr        = 3
	atPhent       = 4
	atPhnum       = 5
	atPagesz      = 6
	atBase        = 7
	atFlags       = 8
	atEntry       = 9
	atUID         = 11
	atEUID        = 12
	atGID         = 13
	atEGID        = 14
	atPlatform    = 15
	atHwcap       = 16
	atClktck      = 17
	atSecure      = 23
	atRandom      = 25
	atHwcap2      = 26
	atExecfn      = 31
	atSysinfoEhdr = 33
	atMinsigstksz = 51
)

// hostAuxv is the VMM process's own auxiliary vector: the CPU
// capabilities the guest inherits (under PVM the guest runs on the host
// CPU as is).
var hostAuxv = sync.OnceValue(func() map[uint64]uint64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return map[uint64]uint64{}
	}
	return parseAuxv(b)
})

// parseAuxv decodes an auxiliary vector (pairs of 64-bit words up to
// AT_NULL).
func parseAuxv(b []byte) map[uint64]uint64 {
	m := map[uint64]uint64{}
	for len(b) >= 16 {
		k, v := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		if k == atNull {
			break
		}
		m[k] = v
		b = b[16:]
	}
	return m
}

// auxEntry is one auxiliary-vector entry.
type auxEntry struct{ key, val uint64 }

// stackSpec is what the initial stack of a program holds.
type stackSpec struct {
	argv, envp []string
	execfn     string
	platform   string
	random     [16]byte
	// auxv without AT_RANDOM, AT_EXECFN, AT_PLATFORM and AT_NULL, which
	// buildStack adds with the addresses it chose.
	auxv []auxEntry
}

// buildStack lays out the SysV x86-64 initial process stack below top,
// as Linux's create_elf_tables does: from the top down, the execfn
// string, the environment and argument strings, the platform string and
// the 16 random bytes; then, 16-byte aligned, argc, argv[], NULL,
// envp[], NULL, auxv pairs ending in AT_NULL. It returns the bytes to
// place at [sp, top) and sp, which points at argc and is 16-byte
// aligned. It is pure.
func buildStack(top uint64, s stackSpec) ([]byte, uint64, error) {
	const maxArgBytes = 2 << 20 // a quarter of the 8 MiB stack, as Linux's ARG_MAX
	strBytes := len(s.execfn) + 1 + len(s.platform) + 1
	for _, a := range s.argv {
		strBytes += len(a) + 1
	}
	for _, e := range s.envp {
		strBytes += len(e) + 1
	}
	if strBytes > maxArgBytes {
		return nil, 0, fmt.Errorf("arguments and environment take %d bytes, more than %d", strBytes, maxArgBytes)
	}
	// Strings, from the top down. Linux leaves the top word zero.
	p := top - 8
	var strs []byte // grows downwards: strs is placed at [p, top-8)
	push := func(str string) uint64 {
		b := append([]byte(str), 0)
		strs = append(b, strs...)
		p -= uint64(len(b))
		return p
	}
	execfn := push(s.execfn)
	envAddrs := make([]uint64, len(s.envp))
	for i := len(s.envp) - 1; i >= 0; i-- {
		envAddrs[i] = push(s.envp[i])
	}
	argAddrs := make([]uint64, len(s.argv))
	for i := len(s.argv) - 1; i >= 0; i-- {
		argAddrs[i] = push(s.argv[i])
	}
	platform := push(s.platform)
	p -= 16
	random := p
	strs = append(s.random[:len(s.random):len(s.random)], strs...)

	auxv := append(append([]auxEntry(nil), s.auxv...),
		auxEntry{atRandom, random}, auxEntry{atExecfn, execfn}, auxEntry{atPlatform, platform}, auxEntry{atNull, 0})
	words := 1 + len(argAddrs) + 1 + len(envAddrs) + 1 + 2*len(auxv)
	sp := (p - uint64(words)*8) &^ 15
	img := make([]byte, top-sp)
	le := binary.LittleEndian
	w := 0
	put := func(v uint64) { le.PutUint64(img[w:], v); w += 8 }
	put(uint64(len(s.argv)))
	for _, a := range argAddrs {
		put(a)
	}
	put(0)
	for _, e := range envAddrs {
		put(e)
	}
	put(0)
	for _, a := range auxv {
		put(a.key)
		put(a.val)
	}
	copy(img[random-sp:], strs)
	return img, sp, nil
}
