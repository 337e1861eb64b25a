/* vpmu_pv.h: the vpmu hypervisor's paravirtual call (docs/vpmu-abi.md)
   for the C test guests, with raw system calls only. */
#include <stdint.h>
#include <string.h>

#define VPMU_PV 0x56504d
enum { PV_PROBE, PV_OPEN, PV_READ, PV_ENABLE, PV_DISABLE, PV_RESET, PV_CLOSE, PV_INFO, PV_LASTERR, PV_SET_PERIOD };
enum { PV_OPEN_DISABLED = 1, PV_OPEN_INHERIT = 2, PV_OPEN_PRECISE = 4, PV_OPEN_SIGNAL = 8 };
#define VPMU_SIGNAL_CODE 0x564d /* si_code of an overflow signal */
enum { PV_READ_INHERITED = 1 };

static inline long pv(long op, long a1, long a2, long a3, long a4, long a5) {
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(VPMU_PV), "D"(op), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long pv_open(const char *spec, long flags, int32_t *slots, long cap) {
	return pv(PV_OPEN, (long)spec, (long)strlen(spec), flags, (long)slots, cap);
}

static inline long pv_read(const int32_t *slots, long n, uint64_t *vals, long flags) {
	return pv(PV_READ, (long)slots, n, (long)vals, flags, 0);
}
