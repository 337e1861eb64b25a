package unix

import "golang.org/x/sys/unix"

// What the vpmu VMM (hypervisor package) needs to implement the Linux
// system-call ABI for its guests, beyond unix_linux.go.

// Errnos returned to guests.
const (
	ENAMETOOLONG = unix.ENAMETOOLONG
	ESPIPE       = unix.ESPIPE
	ETIMEDOUT    = unix.ETIMEDOUT
	ECHILD       = unix.ECHILD
	ELOOP        = unix.ELOOP
	ENOEXEC      = unix.ENOEXEC
	EOVERFLOW    = unix.EOVERFLOW
	EFBIG        = unix.EFBIG
	ENOTSOCK     = unix.ENOTSOCK
	EDEADLK      = unix.EDEADLK
	ENOTEMPTY    = unix.ENOTEMPTY
	EXDEV        = unix.EXDEV
	ENFILE       = unix.ENFILE
	EPIPE        = unix.EPIPE
)

// Host calls the VMM makes on behalf of guests.
var (
	Fstatat    = unix.Fstatat
	Readlinkat = unix.Readlinkat
	Seek       = unix.Seek
	Getdents   = unix.Getdents
	Statx      = unix.Statx
	Getrandom  = unix.Getrandom
	Dup        = unix.Dup
	Getuid     = unix.Getuid
	Geteuid    = unix.Geteuid
	Getgid     = unix.Getgid
	Getegid    = unix.Getegid
)

// Constants of host calls.
const (
	AT_EMPTY_PATH       = unix.AT_EMPTY_PATH
	AT_SYMLINK_NOFOLLOW = unix.AT_SYMLINK_NOFOLLOW
	CLOCK_REALTIME      = unix.CLOCK_REALTIME
	CLOCK_MONOTONIC     = unix.CLOCK_MONOTONIC
	SIGSEGV             = unix.SIGSEGV
	SIGBUS              = unix.SIGBUS
	SIGILL              = unix.SIGILL
	SIGFPE              = unix.SIGFPE
	SIGTRAP             = unix.SIGTRAP
	SIGABRT             = unix.SIGABRT
	SIGSYS              = unix.SIGSYS
	S_IFMT              = unix.S_IFMT
	S_IFREG             = unix.S_IFREG
	S_IFDIR             = unix.S_IFDIR
	S_IFCHR             = unix.S_IFCHR
	S_IFIFO             = unix.S_IFIFO
	S_IFLNK             = unix.S_IFLNK
	O_ACCMODE           = unix.O_ACCMODE
	O_LARGEFILE         = 0x8000
)
