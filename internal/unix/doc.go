// Package unix is the one place in vpmu that imports golang.org/x/sys/unix.
//
// It re-exports the system calls, constants and kernel structs the rest of
// vpmu uses, and declares the few the x/sys module lacks (perf_event
// capability bits, the KVM ioctls). Domain code imports this package, never
// x/sys/unix directly, so every kernel interface vpmu depends on is listed
// here. Files are grouped by concern: unix_linux.go (generic), perf_*.go
// (perf_event), kvm_*.go (KVM).
package unix
