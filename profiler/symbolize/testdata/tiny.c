/* Source of the FuzzBinary seed corpus (testdata/fuzz/FuzzBinary): small
 * ELF files with symbols, DWARF and an inlined function.
 *
 *   static-dwarf5: gcc -g -O1 -nostdlib -static -no-pie -fno-asynchronous-unwind-tables \
 *                      -Wl,--build-id -Wl,-n tiny.c; objcopy --remove-section=.comment
 *   pie-dwarf4:    gcc -gdwarf-4 -O1 -nostdlib -fPIE -pie -fno-asynchronous-unwind-tables \
 *                      -Wl,--build-id -Wl,-z,max-page-size=16 -Wl,-z,noseparate-code tiny.c;
 *                  objcopy --remove-section=.comment
 * each written in the `go test fuzz v1` format as one []byte value. */
static inline __attribute__((always_inline)) int sq(int x) { return x * x; }
__attribute__((noinline)) int work(int n) { int s = 0; for (int i = 0; i < n; i++) s += sq(i); return s; }
void _start(void) { volatile int r = work(10); (void)r; for (;;) __asm__ volatile("hlt"); }
