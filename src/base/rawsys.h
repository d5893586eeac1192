/*
 * rawsys: system calls without libc, for code that runs where libc's state
 * is not its own -- a clone child sharing the engine's address space (see
 * stage.h). They set no errno, take no lock and allocate nothing; the result
 * is the kernel's: >= 0, or -errno. x86_64 only, like the sandbox.
 */
#ifndef PISTON_RAWSYS_H
#define PISTON_RAWSYS_H

static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}

#define RAW_L(x) ((long)(x))
#define raw0(n) raw_syscall6((n), 0, 0, 0, 0, 0, 0)
#define raw1(n, a) raw_syscall6((n), RAW_L(a), 0, 0, 0, 0, 0)
#define raw2(n, a, b) raw_syscall6((n), RAW_L(a), RAW_L(b), 0, 0, 0, 0)
#define raw3(n, a, b, c) raw_syscall6((n), RAW_L(a), RAW_L(b), RAW_L(c), 0, 0, 0)
#define raw4(n, a, b, c, d) raw_syscall6((n), RAW_L(a), RAW_L(b), RAW_L(c), RAW_L(d), 0, 0)
#define raw5(n, a, b, c, d, e) raw_syscall6((n), RAW_L(a), RAW_L(b), RAW_L(c), RAW_L(d), RAW_L(e), 0)

#endif
