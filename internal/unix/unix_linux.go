package unix

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Generic types.
type (
	Errno     = syscall.Errno
	Stat_t    = unix.Stat_t
	Timespec  = unix.Timespec
	Rusage    = unix.Rusage
	Utsname   = unix.Utsname
	CPUSet    = unix.CPUSet
	PollFd    = unix.PollFd
	Sysinfo_t = unix.Sysinfo_t
	Statx_t   = unix.Statx_t
	Rlimit    = unix.Rlimit
)

// Errors, as x/sys spells them.
const (
	EACCES     = unix.EACCES
	EAGAIN     = unix.EAGAIN
	EBADF      = unix.EBADF
	EBUSY      = unix.EBUSY
	EEXIST     = unix.EEXIST
	EFAULT     = unix.EFAULT
	EINTR      = unix.EINTR
	EINVAL     = unix.EINVAL
	EIO        = unix.EIO
	EISDIR     = unix.EISDIR
	ENODEV     = unix.ENODEV
	ENOENT     = unix.ENOENT
	ENOMEM     = unix.ENOMEM
	ENOSPC     = unix.ENOSPC
	ENOSYS     = unix.ENOSYS
	ENOTDIR    = unix.ENOTDIR
	ENOTSUP    = unix.ENOTSUP
	ENOTTY     = unix.ENOTTY
	EOPNOTSUPP = unix.EOPNOTSUPP
	EPERM      = unix.EPERM
	ERANGE     = unix.ERANGE
	ESRCH      = unix.ESRCH
	EROFS      = unix.EROFS
	E2BIG      = unix.E2BIG
	EMFILE     = unix.EMFILE
)

// Memory.
const (
	PROT_NONE  = unix.PROT_NONE
	PROT_READ  = unix.PROT_READ
	PROT_WRITE = unix.PROT_WRITE
	PROT_EXEC  = unix.PROT_EXEC

	MAP_SHARED    = unix.MAP_SHARED
	MAP_PRIVATE   = unix.MAP_PRIVATE
	MAP_ANONYMOUS = unix.MAP_ANONYMOUS
	MAP_FIXED     = unix.MAP_FIXED
	MAP_NORESERVE = unix.MAP_NORESERVE
	MAP_POPULATE  = unix.MAP_POPULATE

	MADV_DONTNEED   = unix.MADV_DONTNEED
	MADV_NOHUGEPAGE = unix.MADV_NOHUGEPAGE
)

// Files.
const (
	O_RDONLY    = unix.O_RDONLY
	O_WRONLY    = unix.O_WRONLY
	O_RDWR      = unix.O_RDWR
	O_CLOEXEC   = unix.O_CLOEXEC
	O_NONBLOCK  = unix.O_NONBLOCK
	O_DIRECTORY = unix.O_DIRECTORY
	O_NOFOLLOW  = unix.O_NOFOLLOW
	O_PATH      = unix.O_PATH
	O_CREAT     = unix.O_CREAT
	O_TRUNC     = unix.O_TRUNC
	O_APPEND    = unix.O_APPEND
	O_EXCL      = unix.O_EXCL
	AT_FDCWD    = unix.AT_FDCWD

	SIGKILL = unix.SIGKILL
	SIGURG  = unix.SIGURG
)

// Generic calls.
var (
	Close            = unix.Close
	Read             = unix.Read
	Write            = unix.Write
	Pread            = unix.Pread
	Pwrite           = unix.Pwrite
	Mmap             = unix.Mmap
	Munmap           = unix.Munmap
	Madvise          = unix.Madvise
	Mprotect         = unix.Mprotect
	Gettid           = unix.Gettid
	Getpid           = unix.Getpid
	Tgkill           = unix.Tgkill
	Poll             = unix.Poll
	Eventfd          = unix.Eventfd
	Pipe2            = unix.Pipe2
	SchedSetaffinity = unix.SchedSetaffinity
	SchedGetaffinity = unix.SchedGetaffinity
	Getrusage        = unix.Getrusage
	Uname            = unix.Uname
	Sysinfo          = unix.Sysinfo
	IoctlSetInt      = unix.IoctlSetInt
	Fstat            = unix.Fstat
	Open             = unix.Open
	Openat           = unix.Openat
	ClockGettime     = unix.ClockGettime
	Prlimit          = unix.Prlimit
)

// Syscall and RawSyscall are the raw entry points, for ioctls whose
// argument is a pointer to a kernel struct.
func Syscall(trap, a1, a2, a3 uintptr) (r1, r2 uintptr, err Errno) {
	return unix.Syscall(trap, a1, a2, a3)
}

// RawSyscall is Syscall without telling the Go scheduler; use only for
// calls that never block.
func RawSyscall(trap, a1, a2, a3 uintptr) (r1, r2 uintptr, err Errno) {
	return unix.RawSyscall(trap, a1, a2, a3)
}

// Syscall6 is Syscall with six arguments.
func Syscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {
	return unix.Syscall6(trap, a1, a2, a3, a4, a5, a6)
}

// System call numbers used through Syscall.
const (
	SYS_IOCTL           = unix.SYS_IOCTL
	SYS_PERF_EVENT_OPEN = unix.SYS_PERF_EVENT_OPEN
	SYS_GETPID          = unix.SYS_GETPID
)

// RawSyscall6 is RawSyscall with six arguments.
func RawSyscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {
	return unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
}
