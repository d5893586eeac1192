#include "seccomp.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

/* Numbers newer than some libc headers (x86_64 table). */
enum {
	NR_fsopen = 430, NR_fsconfig = 431, NR_fsmount = 432, NR_fspick = 433,
	NR_open_tree = 428, NR_move_mount = 429, NR_mount_setattr = 442,
	NR_open_tree_attr = 467, NR_pidfd_getfd = 438, NR_process_madvise = 440,
	NR_io_uring_setup = 425, NR_io_uring_enter = 426, NR_io_uring_register = 427,
	NR_quotactl_fd = 443, NR_clone3 = 435,
};

static const unsigned denied_eperm[] = {
	SYS_keyctl, SYS_add_key, SYS_request_key,
	SYS_bpf, SYS_perf_event_open, SYS_userfaultfd,
	NR_io_uring_setup, NR_io_uring_enter, NR_io_uring_register,
	SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp,
	NR_pidfd_getfd, NR_process_madvise,
	NR_open_tree_attr, NR_fspick,
	SYS_kexec_load, SYS_kexec_file_load, SYS_init_module, SYS_finit_module, SYS_delete_module,
	SYS_swapon, SYS_swapoff, SYS_reboot, SYS_acct, SYS_quotactl, NR_quotactl_fd,
	SYS_syslog, SYS_iopl, SYS_ioperm, SYS_modify_ldt, SYS_uselib, SYS_vhangup,
	SYS_open_by_handle_at, SYS_fanotify_init, SYS_lookup_dcookie,
	SYS_settimeofday, SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex,
	SYS_setdomainname,
};

/* Denied with EPERM unless the gate key is the sixth argument (each takes at
 * most five). unshare and clone3 are gated too, with checks of their own. */
static const unsigned gated_eperm[] = {
	SYS_mount, NR_move_mount, NR_open_tree, NR_fsopen, NR_fsconfig, NR_fsmount, NR_mount_setattr,
	SYS_umount2, SYS_pivot_root, SYS_setns, SYS_chroot, SYS_sethostname,
};

static const unsigned allowed_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                  CLONE_NEWPID | CLONE_NEWNET | 0x80 /* CLONE_NEWTIME */)

#define ARG0_LO offsetof(struct seccomp_data, args[0])
#define ARG5_LO offsetof(struct seccomp_data, args[5])   /* x86_64 is little-endian */
#define ARG5_HI (ARG5_LO + 4)

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

static void emit(seccomp_prog *p, unsigned short code, unsigned char jt, unsigned char jf, unsigned k)
{
	p->insns[p->len++] = (struct sock_filter){ code, jt, jf, k };
}

/* A = (arg5.lo ^ key.lo) | (arg5.hi ^ key.hi); then allow if A == 0, else
 * return `otherwise`. 8 instructions. */
static void emit_key_check(seccomp_prog *p, uint64_t key, unsigned otherwise)
{
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG5_LO);
	emit(p, BPF_ALU | BPF_XOR | BPF_K, 0, 0, (uint32_t)key);
	emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG5_HI);
	emit(p, BPF_ALU | BPF_XOR | BPF_K, 0, 0, (uint32_t)(key >> 32));
	emit(p, BPF_ALU | BPF_OR | BPF_X, 0, 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	emit(p, BPF_RET | BPF_K, 0, 0, otherwise);
}

int seccomp_build(seccomp_prog *p, const uint64_t *gate_key)
{
	const unsigned ndeny = sizeof denied_eperm / sizeof denied_eperm[0];
	const unsigned ngated = sizeof gated_eperm / sizeof gated_eperm[0];
	const unsigned nfam = sizeof allowed_families / sizeof allowed_families[0];
	_Static_assert(sizeof denied_eperm / sizeof denied_eperm[0] + sizeof gated_eperm / sizeof gated_eperm[0] +
	               60 < SECCOMP_PROG_MAX, "program fits");
	p->len = 0;
	/* 0: architecture first: anything but x86_64 dies. */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
	/* The compare chain, then the blocks it jumps to at fixed offsets from
	 * its end (classic BPF jumps only forward). x32 calls carry the x32 bit
	 * in the number: deny them all. */
	unsigned chain = p->len;
	unsigned n_tests = 1 + ndeny + ngated + 5;   /* x32, lists, unshare, clone3, clone, socket, socketpair */
	unsigned l_allow = chain + n_tests;
	unsigned l_eperm = l_allow + 1;
	unsigned l_enosys = l_eperm + 1;
	unsigned l_clone = l_enosys + 1;             /* 4 instructions */
	unsigned l_socket = l_clone + 4;             /* 1 + nfam + 2 */
	unsigned l_unshare = l_socket + 1 + nfam + 2; /* 2, then falls into l_gate */
	unsigned l_gate = l_unshare + 2;             /* 9 */
	unsigned l_gate_clone3 = l_gate + 9;         /* 9 */
	if (!gate_key) {
		l_unshare = l_gate = l_eperm;
		l_gate_clone3 = l_enosys;
	}
#define JUMP_TO(label) ((unsigned char)((label) - (p->len + 1)))
	emit(p, BPF_JMP | BPF_JSET | BPF_K, JUMP_TO(l_eperm), 0, __X32_SYSCALL_BIT);
	for (unsigned i = 0; i < ndeny; i++)
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_eperm), 0, denied_eperm[i]);
	for (unsigned i = 0; i < ngated; i++)
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_gate), 0, gated_eperm[i]);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_unshare), 0, SYS_unshare);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_gate_clone3), 0, NR_clone3);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_clone), 0, SYS_clone);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_socket), 0, SYS_socket);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_socket), 0, SYS_socketpair);
	int placed = p->len == l_allow;
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
	emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(ENOSYS));
	/* l_clone: the flags are the first argument (low 32 bits hold them all). */
	placed &= p->len == l_clone;
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG0_LO);
	emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, NS_FLAGS);
	emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	/* l_socket: the family is the first argument. */
	placed &= p->len == l_socket;
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG0_LO);
	unsigned l_fam_allow = p->len + nfam + 1;
	for (unsigned i = 0; i < nfam; i++)
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_fam_allow), 0, allowed_families[i]);
	emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EAFNOSUPPORT));
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	if (gate_key) {
		/* l_unshare: never a user namespace; otherwise as l_gate. */
		placed &= p->len == l_unshare;
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG0_LO);
		emit(p, BPF_JMP | BPF_JSET | BPF_K, JUMP_TO(l_gate + 8), 0, CLONE_NEWUSER);
		placed &= p->len == l_gate;
		emit_key_check(p, *gate_key, RET_ERRNO(EPERM));
		placed &= p->len == l_gate_clone3;
		emit_key_check(p, *gate_key, RET_ERRNO(ENOSYS));
	}
#undef JUMP_TO
	/* The labels were computed before the code: a mismatch is a bug here,
	 * and a program with misplaced jumps must never be installed. */
	return placed ? 0 : -1;
}

int seccomp_install(const seccomp_prog *p)
{
	struct sock_fprog fprog = { .len = p->len, .filter = (struct sock_filter *)p->insns };
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}
