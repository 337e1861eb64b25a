package unix

import "golang.org/x/sys/unix"

// Counting the tasks of a cgroup: perf_event_open with
// PERF_FLAG_PID_CGROUP takes an fd of the cgroup's directory as its pid
// argument; fstatfs on that fd tells a cgroup directory from any other.
type Statfs_t = unix.Statfs_t

var Fstatfs = unix.Fstatfs

const (
	PERF_FLAG_PID_CGROUP = unix.PERF_FLAG_PID_CGROUP

	CGROUP2_SUPER_MAGIC = unix.CGROUP2_SUPER_MAGIC // the cgroup v2 (unified) hierarchy
	CGROUP_SUPER_MAGIC  = unix.CGROUP_SUPER_MAGIC  // a cgroup v1 hierarchy
)
