package hypervisor

import (
	"fmt"

	"github.com/vpmu/vpmu/internal/unix"
)

// The sandbox has no network: every socket call fails with EACCES (what
// a seccomp or LSM policy that forbids sockets returns), and the first
// one is reported. Unix-domain sockets are sockets too: they would reach
// host services.

func init() {
	registerSyscall(sysSocket, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.denyNetwork(fmt.Sprintf("socket(%s, %s)", socketDomain(a.Int(0)), socketType(a.Int(1))))
	})
	registerSyscall(sysSocketpair, func(t *Thread, a SyscallArgs) (uint64, error) {
		return 0, t.denyNetwork(fmt.Sprintf("socketpair(%s, %s)", socketDomain(a.Int(0)), socketType(a.Int(1))))
	})
	for _, nr := range []int{sysConnect, sysAccept, sysAccept4, sysBind, sysListen, sysSendto, sysRecvfrom,
		sysSendmsg, sysRecvmsg, sysSendmmsg, sysRecvmmsg, sysShutdown, sysGetsockname, sysGetpeername,
		sysSetsockopt, sysGetsockopt} {
		registerSyscall(nr, func(t *Thread, a SyscallArgs) (uint64, error) {
			return 0, t.denyNetwork(fmt.Sprintf("%s(fd %d)", syscallName(nr), a.Int(0)))
		})
	}
}

// denyNetwork refuses a socket call with EACCES and reports it.
func (t *Thread) denyNetwork(call string) error {
	return t.sandbox().deny(DenyNetwork, "network access is not allowed in the vpmu sandbox: "+call, unix.EACCES)
}

// socketDomain names an address family for the report.
func socketDomain(d int) string {
	switch d {
	case 1:
		return "AF_UNIX"
	case 2:
		return "AF_INET"
	case 10:
		return "AF_INET6"
	case 16:
		return "AF_NETLINK"
	case 17:
		return "AF_PACKET"
	}
	return fmt.Sprintf("domain %d", d)
}

// socketType names a socket type for the report (flags dropped).
func socketType(typ int) string {
	switch typ & 0xf {
	case 1:
		return "SOCK_STREAM"
	case 2:
		return "SOCK_DGRAM"
	case 3:
		return "SOCK_RAW"
	case 5:
		return "SOCK_SEQPACKET"
	}
	return fmt.Sprintf("type %d", typ)
}
