package guestlib

// rdtsc executes RDTSC.
func rdtsc() uint64

// rdpmc executes RDPMC for counter index.
func rdpmc(index uint32) uint64

// gsSelf returns the guest address of the calling thread's state page.
func gsSelf() uint64
