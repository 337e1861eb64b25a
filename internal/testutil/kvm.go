package testutil

import (
	"testing"

	"github.com/vpmu/vpmu/internal/unix"
)

// MustHaveKVM skips the test, with the reason, when /dev/kvm cannot be
// opened read-write. With VPMU_REQUIRE=kvm it fails instead.
func MustHaveKVM(t testing.TB) {
	t.Helper()
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		skipOrFail(t, "kvm", "open /dev/kvm: "+err.Error())
		return
	}
	unix.Close(fd)
}
