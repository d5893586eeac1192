/*
 * seccomp: the sandbox's system-call deny-list (SPEC section 4), a
 * hand-written classic-BPF program for x86_64.
 *
 * Promises:
 * - Any architecture other than AUDIT_ARCH_X86_64 kills the process (no
 *   i386 int 0x80 bypass); x32 numbers (__X32_SYSCALL_BIT) fail with EPERM.
 * - Denied with EPERM: key management, bpf, perf_event_open, userfaultfd,
 *   io_uring_*, ptrace and process_vm_*, kcmp, pidfd_getfd, every mount API
 *   call, unshare, setns, clone with any namespace flag, kexec, module
 *   loading, swapon/off, reboot, acct, quotactl, chroot, syslog, iopl/ioperm,
 *   modify_ldt, open_by_handle_at, fanotify_init and the clock setters.
 * - clone3 fails with ENOSYS (its flags live in memory BPF cannot read), so
 *   libcs fall back to clone, whose flags are checked.
 * - socket()/socketpair() only for AF_UNIX, AF_INET, AF_INET6, AF_NETLINK;
 *   other families (AF_VSOCK, AF_PACKET, ...) fail with EAFNOSUPPORT.
 * The program is built once into caller memory and is read-only afterwards.
 */
#ifndef PISTON_SECCOMP_H
#define PISTON_SECCOMP_H

#include <linux/filter.h>

#define SECCOMP_PROG_MAX 160

typedef struct seccomp_prog {
	struct sock_filter insns[SECCOMP_PROG_MAX];
	unsigned short len;
} seccomp_prog;

/* Build the deny-list program. Returns 0 (the program always fits). */
int seccomp_build(seccomp_prog *p);
/* Install it on the calling thread; needs no_new_privs or CAP_SYS_ADMIN.
 * Async-signal-safe (a raw syscall). Returns 0 or -1 with errno. */
int seccomp_install(const seccomp_prog *p);

#endif
