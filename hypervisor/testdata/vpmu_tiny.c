/* vpmu_tiny: a program without a C library whose whole run is known
   exactly: 204 instructions, 101 branches (build with -nostdlib). */
__attribute__((naked, noreturn)) void _start(void) {
	__asm__ volatile(
		"mov $100, %ecx\n"     /* 1 */
		"1: dec %ecx\n"        /* 100 */
		"jnz 1b\n"             /* 100 branches */
		"mov $60, %eax\n"      /* 1: exit */
		"xor %edi, %edi\n"     /* 1 */
		"syscall\n");          /* 1, a branch */
}
