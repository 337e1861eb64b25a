// Package symbolize turns addresses in ELF binaries into function names,
// source files and lines, including the frames of inlined calls.
//
// It serves the profiler: samples taken natively (perf) or inside the
// vpmu hypervisor (virtual PMIs at guest-thread overflows) carry runtime
// addresses of code in mapped files. A [Binary] opened through a
// [Symbolizer] translates such an address into the file's own virtual
// address with [Binary.Translate] (which computes the load bias of PIE
// executables and shared objects from the mapping's start and file offset
// and the file's PT_LOAD segments) and resolves it with [Binary.Frames].
//
// Sources, in the order they are used:
//
//   - DWARF (debug/dwarf): line tables for file:line, and the
//     DW_TAG_inlined_subroutine tree for inlined calls, which become one
//     [Frame] each, innermost first, the caller last, each with the line
//     at which it called the next (DW_AT_call_line). Units are decoded on
//     the first lookup that lands in them.
//   - ELF symbol tables: .symtab, and .dynsym for stripped shared objects.
//     Function symbols cover [value, value+size); a symbol without a size
//     covers up to the next symbol or the end of its section. Among
//     aliases at one address perf's choice is made (sized, not weak,
//     global, fewest leading underscores, shortest). A symbol names the
//     out-of-line function even where DWARF covers it, as perf does, so
//     compiler clones keep their suffix (foo.constprop.0).
//   - Separate debug files, for distribution binaries stripped of both:
//     by build ID under /usr/lib/debug/.build-id, then by .gnu_debuglink
//     (Options.DebugDirs).
//   - The Go pclntab (debug/gosym), present in every Go binary even when
//     stripped with -s -w: function, file and line. debug/gosym does not
//     expose the pclntab's inline tree, so a Go binary without DWARF (-w)
//     gets one frame per address: code inlined into a function is reported
//     as that function, at the inlined callee's file and line. Go binaries
//     keep DWARF by default and then get full inline frames.
//
// Build IDs come from the .note.gnu.build-id note, or from the Go
// linker's build-ID note when there is no GNU one. A caller that knows the
// build ID a process mapped (perf MMAP2 records carry it) passes it to
// [Symbolizer.Open], which refuses a file with a different one rather
// than give wrong names.
//
// Kernel addresses are named from /proc/kallsyms when it is readable
// ([Symbolizer.Kallsyms]); otherwise the profiler shows one "[kernel]"
// pseudo-function.
//
// Malformed files never cause a panic. A file that cannot be used at all
// is an error; a damaged section is skipped and reported through
// [Binary.Problems] or the error of a lookup, as a [*FileError] naming the
// file and the section. Table and section extents are checked against the
// file size before anything is read, so a truncated file cannot make the
// decoder allocate more than the file holds.
package symbolize
