package unix

import "golang.org/x/sys/unix"

// What the vpmu VMM's file-system family and its sandbox need from the
// host: openat2 with RESOLVE_BENEATH (every write is confined beneath a
// granted directory's O_PATH fd), the *at calls that create, remove and
// change files relative to such a directory, and the fd calls that
// operate on host files opened for the guest.

// OpenHow is struct open_how of openat2(2).
type OpenHow = unix.OpenHow

// Flock_t is struct flock (Statfs_t is in cgroup_linux.go);
// StatxTimestamp is a time in struct statx.
type (
	Flock_t        = unix.Flock_t
	StatxTimestamp = unix.StatxTimestamp
)

// openat2 resolve flags.
const (
	RESOLVE_BENEATH       = unix.RESOLVE_BENEATH
	RESOLVE_NO_MAGICLINKS = unix.RESOLVE_NO_MAGICLINKS
	RESOLVE_NO_SYMLINKS   = unix.RESOLVE_NO_SYMLINKS
	RESOLVE_NO_XDEV       = unix.RESOLVE_NO_XDEV
)

// More errnos the file-system calls return.
const (
	ENXIO       = unix.ENXIO
	EWOULDBLOCK = unix.EWOULDBLOCK
	ENODATA     = unix.ENODATA
	EMLINK      = unix.EMLINK
	ETXTBSY     = unix.ETXTBSY
)

// Constants of the host calls below.
const (
	O_NOCTTY           = unix.O_NOCTTY
	O_TMPFILE          = unix.O_TMPFILE
	O_DIRECT           = unix.O_DIRECT
	O_DSYNC            = unix.O_DSYNC
	O_SYNC             = unix.O_SYNC
	O_NOATIME          = unix.O_NOATIME
	AT_REMOVEDIR       = unix.AT_REMOVEDIR
	AT_SYMLINK_FOLLOW  = unix.AT_SYMLINK_FOLLOW
	AT_EACCESS         = unix.AT_EACCESS
	AT_STATX_SYNC_TYPE = 0x6000 // AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC
	AT_NO_AUTOMOUNT    = unix.AT_NO_AUTOMOUNT
	S_IFBLK            = unix.S_IFBLK
	S_IFSOCK           = unix.S_IFSOCK
	PROC_SUPER_MAGIC   = unix.PROC_SUPER_MAGIC
	LOCK_NB            = unix.LOCK_NB
	F_GETFL            = unix.F_GETFL
	F_SETFL            = unix.F_SETFL
	F_GETLK            = unix.F_GETLK
	F_SETLK            = unix.F_SETLK
	F_OFD_GETLK        = unix.F_OFD_GETLK
	F_OFD_SETLK        = unix.F_OFD_SETLK
)

// Host calls on paths relative to directory fds, and on host fds.
var (
	Openat2      = unix.Openat2
	Mkdirat      = unix.Mkdirat
	Mknodat      = unix.Mknodat
	Unlinkat     = unix.Unlinkat
	Renameat2    = unix.Renameat2
	Symlinkat    = unix.Symlinkat
	Linkat       = unix.Linkat
	Fchmodat     = unix.Fchmodat
	Fchownat     = unix.Fchownat
	UtimesNanoAt = unix.UtimesNanoAt
	Faccessat    = unix.Faccessat
	Ftruncate    = unix.Ftruncate
	Fallocate    = unix.Fallocate
	Fsync        = unix.Fsync
	Fdatasync    = unix.Fdatasync
	Flock        = unix.Flock
	FcntlInt     = unix.FcntlInt
	FcntlFlock   = unix.FcntlFlock
)
