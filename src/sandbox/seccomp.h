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
 * - With a gate key: the calls the sandbox's own code needs to build a stage
 *   (setns, unshare, chroot, pivot_root, sethostname, clone3 and the mount
 *   API calls mount, umount2, open_tree, move_mount, mount_setattr, fsopen,
 *   fsconfig, fsmount)
 *   pass when their sixth argument -- unused by each of them -- equals the
 *   64-bit key, and are denied as above otherwise. unshare with
 *   CLONE_NEWUSER is denied even with the key. The comparison has no
 *   early exit (XOR both halves, OR, one test). That lets the engine carry
 *   the filter itself: every stage's processes inherit it at clone, instead
 *   of compiling a new one per stage (the kernel's BPF JIT costs ~0.15 ms).
 *   A job never has the key (it is random per engine, lives only in the
 *   engine's memory, and exec clears the registers); a job that guessed it
 *   would still lack the capabilities every gated call but clone3 checks.
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

#include <stdint.h>

/* Build the deny-list program; gate_key NULL: no gate (the gated calls are
 * denied like the rest). Returns 0, or -1 if the program's jumps came out
 * misplaced (a bug: never install it then). */
int seccomp_build(seccomp_prog *p, const uint64_t *gate_key);
/* Install it on the calling thread; needs no_new_privs or CAP_SYS_ADMIN.
 * Async-signal-safe (a raw syscall). Returns 0 or -1 with errno. */
int seccomp_install(const seccomp_prog *p);

#endif
