package hypervisor

// Hand-assembled guest code. arch_stubs_test.go disassembles every stub
// with golang.org/x/arch/x86/x86asm and checks it instruction by
// instruction.

// Exception vectors (Intel SDM vol. 3A, table 6-1).
const (
	vecDE  = 0 // divide error
	vecDB  = 1 // debug
	vecNMI = 2
	vecBP  = 3  // breakpoint (int3)
	vecOF  = 4  // overflow (into)
	vecBR  = 5  // bound range
	vecUD  = 6  // invalid opcode
	vecNM  = 7  // device not available
	vecDF  = 8  // double fault
	vecTS  = 10 // invalid TSS
	vecNP  = 11 // segment not present
	vecSS  = 12 // stack-segment fault
	vecGP  = 13 // general protection
	vecPF  = 14 // page fault
	vecMF  = 16 // x87 floating point
	vecAC  = 17 // alignment check
	vecMC  = 18 // machine check
	vecXM  = 19 // SIMD floating point
	vecVE  = 20 // virtualization exception
	vecCP  = 21 // control protection

	numExceptionVectors = 32
	// excStubSize is the spacing of the exception stubs.
	excStubSize = 16
)

// vectorHasErrorCode reports whether the CPU pushes an error code for
// the exception vector.
func vectorHasErrorCode(v int) bool {
	switch v {
	case 8, 10, 11, 12, 13, 14, 17, 21, 29, 30:
		return true
	}
	return false
}

// syscallStub is the SYSCALL entry point (LSTAR). The guest arrives with
// RCX = return RIP and R11 = RFLAGS.
//
//	e6 10      out %al, $0x10   exit to the VMM (KVM_EXIT_IO, portSyscall)
//	48 0f 07   sysretq          only reached at CPL 0 (hardware KVM), where the
//	                            VMM leaves RIP alone and KVM skips the out
//	f4         hlt              never reached
//	eb fd      jmp .-1          (back to hlt)
//
// On PVM the stub runs at CPL 3 and the VMM resumes the guest at RCX with
// RFLAGS = R11 itself; the sysretq (a #GP at CPL 3) is never executed.
var syscallStub = []byte{
	0xe6, portSyscall,
	0x48, 0x0f, 0x07,
	0xf4,
	0xeb, 0xfd,
}

// syscallStubOutLen is the length of the out that starts syscallStub: a
// hardware-KVM VCPU resumes at syscallStubGVA+syscallStubOutLen (the sysretq).
const syscallStubOutLen = 2

// exceptionStub returns the stub of vector v, excStubSize bytes. The CPU
// enters it at CPL 0 on the VCPU's IST stack with the frame
// [error code,] RIP, CS, RFLAGS, RSP, SS. The stub makes the frame uniform
// and exits:
//
//	6a 00      push $0          only for vectors without an error code
//	6a vv      push $v
//	e6 11      out %al, $0x11   exit to the VMM (KVM_EXIT_IO, portException)
//	f4         hlt              never reached: the VMM resumes elsewhere
//	eb fd      jmp .-1
//	cc ...     int3 padding
//
// The VMM then finds, from the IST stack top down: SS, RSP, RFLAGS, CS,
// RIP, error code, vector (excFrame).
func exceptionStub(v int) []byte {
	b := make([]byte, 0, excStubSize)
	if !vectorHasErrorCode(v) {
		b = append(b, 0x6a, 0x00)
	}
	b = append(b, 0x6a, byte(v), 0xe6, portException, 0xf4, 0xeb, 0xfd)
	for len(b) < excStubSize {
		b = append(b, 0xcc)
	}
	return b
}

// buildExceptionStubs returns the page of all 32 exception stubs.
func buildExceptionStubs() []byte {
	b := make([]byte, 0, numExceptionVectors*excStubSize)
	for v := 0; v < numExceptionVectors; v++ {
		b = append(b, exceptionStub(v)...)
	}
	return b
}

// excFrameSize is the size of the uniform exception frame: vector, error
// code, RIP, CS, RFLAGS, RSP, SS.
const excFrameSize = 7 * 8
