package symbolize

import (
	"github.com/vpmu/vpmu/profiler/internal/testprog"

	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestMalformed damages a real binary in the ways files get damaged and
// checks that each is reported, naming the file and the part at fault,
// while what is intact stays usable.
func TestMalformed(t *testing.T) {
	bin := testprog.BuildC(t, "cprog", "-g", "-O1", "-fPIE", "-pie")
	orig, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	hot := testprog.NM(t, bin)["hot"].Addr
	f, err := elf.NewFile(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(orig[40:])
	shentsize := uint64(binary.LittleEndian.Uint16(orig[58:]))
	sectionIndex := func(name string) uint64 {
		for i, s := range f.Sections {
			if s.Name == name {
				return uint64(i)
			}
		}
		t.Fatalf("no section %s", name)
		return 0
	}
	// setOffset points a section's data past the end of the file.
	setOffset := func(data []byte, name string) {
		binary.LittleEndian.PutUint64(data[shoff+sectionIndex(name)*shentsize+24:], uint64(len(data))+0x1000)
	}
	// scribble overwrites the middle of a section's data.
	scribble := func(data []byte, name string) {
		s := f.Section(name)
		for i := s.Offset + s.Size/4; i < s.Offset+s.Size*3/4; i++ {
			data[i] = 0xff
		}
	}

	tests := []struct {
		name    string
		damage  func([]byte) []byte
		openErr string // expected in Open's error; "" if Open must succeed
		problem string // expected in a problem or lookup error
		named   bool   // hot is still named (from the symbol table)
	}{
		{"not ELF", func(b []byte) []byte { return []byte("#!/bin/sh\necho hi\n") }, "ELF header: not an ELF file", "", false},
		{"truncated header", func(b []byte) []byte { return b[:40] }, "ELF header", "", false},
		{"truncated file", func(b []byte) []byte { return b[:len(b)/2] }, "section headers", "", false},
		{"debug_line outside file", func(b []byte) []byte { setOffset(b, ".debug_line"); return b }, "", "section .debug_line: ", true},
		{"symtab outside file", func(b []byte) []byte { setOffset(b, ".symtab"); return b }, "", "section .symtab: ", true},
		{"debug_info garbage", func(b []byte) []byte { scribble(b, ".debug_info"); return b }, "", ".debug_info", true},
		{"debug_line garbage", func(b []byte) []byte { scribble(b, ".debug_line"); return b }, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.damage(append([]byte{}, orig...))
			b, err := readBinary("damaged.elf", bytes.NewReader(data), int64(len(data)), "", []string{})
			if tt.openErr != "" {
				var fe *FileError
				if err == nil || !strings.Contains(err.Error(), tt.openErr) || !errors.As(err, &fe) || fe.Path != "damaged.elf" {
					t.Fatalf("Open: err = %v, want a *FileError for damaged.elf containing %q", err, tt.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			var msgs []string
			for _, p := range b.Problems() {
				msgs = append(msgs, p.Error())
			}
			fr, ferr := b.Frames(hot)
			if ferr != nil {
				msgs = append(msgs, ferr.Error())
			}
			all := strings.Join(msgs, "\n")
			if tt.problem != "" && !strings.Contains(all, tt.problem) {
				t.Errorf("problems and errors %q do not mention %q", all, tt.problem)
			}
			if !strings.Contains(all, "damaged.elf") && all != "" {
				t.Errorf("problems %q do not name the file", all)
			}
			if tt.named && (len(fr) == 0 || fr[len(fr)-1].Function != "hot") {
				t.Errorf("Frames(hot) = %+v, want hot named", fr)
			}
			t.Logf("problems: %s; frames %+v", all, fr)
		})
	}
}
