#include "seccomp.h"

#include <errno.h>
#include <stddef.h>
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
	SYS_mount, SYS_umount2, SYS_pivot_root, NR_move_mount, NR_open_tree, NR_open_tree_attr,
	NR_fsopen, NR_fsconfig, NR_fsmount, NR_fspick, NR_mount_setattr,
	SYS_unshare, SYS_setns, SYS_chroot,
	SYS_kexec_load, SYS_kexec_file_load, SYS_init_module, SYS_finit_module, SYS_delete_module,
	SYS_swapon, SYS_swapoff, SYS_reboot, SYS_acct, SYS_quotactl, NR_quotactl_fd,
	SYS_syslog, SYS_iopl, SYS_ioperm, SYS_modify_ldt, SYS_uselib, SYS_vhangup,
	SYS_open_by_handle_at, SYS_fanotify_init, SYS_lookup_dcookie,
	SYS_settimeofday, SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex,
	SYS_sethostname, SYS_setdomainname,
};

static const unsigned allowed_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                  CLONE_NEWPID | CLONE_NEWNET | 0x80 /* CLONE_NEWTIME */)

#define ARG0_LO offsetof(struct seccomp_data, args[0])

static void emit(seccomp_prog *p, unsigned short code, unsigned char jt, unsigned char jf, unsigned k)
{
	p->insns[p->len++] = (struct sock_filter){ code, jt, jf, k };
}

int seccomp_build(seccomp_prog *p)
{
	const unsigned ndeny = sizeof denied_eperm / sizeof denied_eperm[0];
	const unsigned nfam = sizeof allowed_families / sizeof allowed_families[0];
	_Static_assert(sizeof denied_eperm / sizeof denied_eperm[0] + 40 < SECCOMP_PROG_MAX, "program fits");
	p->len = 0;
	/* 0: architecture first: anything but x86_64 dies. */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
	/* x32 calls carry the x32 bit in the number: deny them all. The labels
	 * below sit at fixed offsets from the end of the compare chain. */
	unsigned chain = p->len;               /* index of the x32 test */
	unsigned n_tests = 1 + ndeny + 4;      /* x32, deny list, clone, clone3, socket, socketpair */
	unsigned l_allow = chain + n_tests;    /* RET ALLOW */
	unsigned l_eperm = l_allow + 1;        /* RET EPERM */
	unsigned l_enosys = l_eperm + 1;       /* RET ENOSYS */
	unsigned l_clone = l_enosys + 1;       /* clone flag check (4 insns) */
	unsigned l_socket = l_clone + 4;       /* family check */
#define JUMP_TO(label) ((unsigned char)((label) - (p->len + 1)))
	emit(p, BPF_JMP | BPF_JSET | BPF_K, JUMP_TO(l_eperm), 0, __X32_SYSCALL_BIT);
	for (unsigned i = 0; i < ndeny; i++)
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_eperm), 0, denied_eperm[i]);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_clone), 0, SYS_clone);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_enosys), 0, NR_clone3);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_socket), 0, SYS_socket);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_socket), 0, SYS_socketpair);
	/* l_allow */
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
	/* l_clone: the flags are the first argument (low 32 bits hold them all). */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG0_LO);
	emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, NS_FLAGS);   /* BPF jumps only forward */
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	/* l_socket: the family is the first argument. */
	emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG0_LO);
	unsigned l_fam_allow = p->len + nfam + 1;
	for (unsigned i = 0; i < nfam; i++)
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, JUMP_TO(l_fam_allow), 0, allowed_families[i]);
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA));
	emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
#undef JUMP_TO
	return 0;
}

int seccomp_install(const seccomp_prog *p)
{
	struct sock_fprog fprog = { .len = p->len, .filter = (struct sock_filter *)p->insns };
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}
