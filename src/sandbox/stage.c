/* stage: a stage's init and its command's last steps (see stage.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/futex.h>
#include <linux/mount.h>
#include <linux/seccomp.h>

#include "rawsys.h"
#include "stage.h"

#define INIT_STACK_SIZE (64u << 10)
#define CMD_STACK_SIZE (32u << 10)
/* Room for argv and envp in a block: most stages' fit, so blocks are reused. */
#define BLOCK_DATA_MIN (64u << 10)
/* init's descriptors: 0-2 stdio, 3 report, 4 control, then the v1
 * cgroup.procs files, then the v2 cgroup directory. */
#define FD_REPORT 3
#define FD_CONTROL 4
#define FD_CGROUPS 5

/* ---- the block (engine side) ---- */

static size_t vec_len(const char *const *v, size_t *bytes)
{
	size_t n = 0;
	for (; v && v[n]; n++)
		*bytes += strlen(v[n]) + 1;
	return n;
}

static char **vec_copy(const char *const *v, size_t n, char ***slots, char **text)
{
	char **out = *slots;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;
		memcpy(*text, v[i], len);
		out[i] = *text;
		*text += len;
	}
	out[n] = NULL;
	*slots += n + 1;
	return out;
}

stage_block *stage_block_new(stage_block *reuse, const char *const *argv, const char *const *envp,
                             const char *pkg_dir, const char *tmp_opts)
{
	size_t text = strlen(pkg_dir) * 2 + 8 + strlen(tmp_opts) + 1;
	size_t argc = vec_len(argv, &text), envc = vec_len(envp, &text);
	size_t head = (sizeof(stage_block) + 15) & ~(size_t)15;
	size_t ptrs = (argc + envc + 2) * sizeof(char *);
	size_t data = (head + ptrs + text + 4095) & ~(size_t)4095;
	if (data < BLOCK_DATA_MIN)
		data = BLOCK_DATA_MIN;
	size_t total = data + INIT_STACK_SIZE + CMD_STACK_SIZE;
	void *m = reuse;
	if (reuse && reuse->map_size < total) {
		stage_block_free(reuse);
		m = NULL;
	}
	if (!m) {
		m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
	} else {
		total = reuse->map_size;
	}
	stage_block *b = m;
	memset(b, 0, sizeof *b);
	b->map_size = total;
	char **slots = (char **)((char *)m + head);
	char *t = (char *)slots + ptrs;
	b->argv = vec_copy(argv, argc, &slots, &t);
	b->envp = vec_copy(envp, envc, &slots, &t);
	b->usr_path = t;
	t += strlen(strcpy(t, pkg_dir));
	t += strlen(strcpy(t, "/usr")) + 1;
	b->pkg_path = strcpy(t, pkg_dir);
	t += strlen(t) + 1;
	b->tmp_opts = strcpy(t, tmp_opts);
	b->cmd_stack_size = CMD_STACK_SIZE;
	b->init_stack_size = INIT_STACK_SIZE;
	b->init_stack = (char *)m + total - INIT_STACK_SIZE;
	b->cmd_stack = b->init_stack - CMD_STACK_SIZE;
	return b;
}

void stage_block_free(stage_block *b)
{
	if (b)
		munmap(b, b->map_size);
}

/* fn and arg ride in callee-saved r12/r13 (the child gets copies of every
 * register); r9, the sixth argument, carries the gate key. */
__asm__(".text\n"
        ".globl stage_clone3\n"
        ".type stage_clone3,@function\n"
        "stage_clone3:\n"
        "	push %r12\n"
        "	push %r13\n"
        "	mov %rdx, %r12\n"
        "	mov %rcx, %r13\n"
        "	mov %r8, %r9\n"
        "	mov $435, %eax\n"          /* SYS_clone3 */
        "	syscall\n"
        "	test %rax, %rax\n"
        "	jnz 1f\n"
        "	xor %ebp, %ebp\n"
        "	mov %r13, %rdi\n"
        "	call *%r12\n"
        "	ud2\n"
        "1:	pop %r13\n"
        "	pop %r12\n"
        "	ret\n"
        ".size stage_clone3, .-stage_clone3\n");

/* ---- the stage's side: raw system calls only from here on ---- */

static size_t str_put(char *dst, size_t cap, size_t at, const char *s)
{
	while (*s && at + 1 < cap)
		dst[at++] = *s++;
	dst[at] = 0;
	return at;
}

static _Noreturn void die(long code)
{
	for (;;)
		raw1(SYS_exit_group, code);
}

static _Noreturn void init_fail(int rep, long err, const char *what, const char *more)
{
	stage_report r = { .kind = STAGE_REPORT_SETUP_FAILED, .value = (int32_t)-err };
	size_t at = str_put(r.what, sizeof r.what, 0, what);
	if (more)
		str_put(r.what, sizeof r.what, str_put(r.what, sizeof r.what, at, " "), more);
	raw3(SYS_write, rep, &r, sizeof r);
	die(127);
}

/* CLOCK_MONOTONIC in ns by a raw call (no vDSO: no libc state here). */
static uint64_t mono_raw(void)
{
	struct timespec ts = { 0, 0 };
	raw2(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A call the seccomp gate guards (seccomp.h): the key as the sixth argument. */
#define gated(b, n, a1, a2, a3, a4, a5) \
	raw_syscall6((n), RAW_L(a1), RAW_L(a2), RAW_L(a3), RAW_L(a4), RAW_L(a5), (long)(b)->gate_key)

/* Bind remounts replace every flag: each keeps its mount's own. */
#define RO_FLAGS (MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
#define RO_DEV_FLAGS (MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)

/* A clone of the tree at path, read-only; without mount_setattr the caller
 * remounts it once attached (remount_ro_at). */
static long tree_clone_ro(const stage_block *b, const char *path, unsigned extra)
{
	long fd = gated(b, SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | extra, 0, 0);
	if (fd < 0 || b->remount_ro)
		return fd;
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	long rc = gated(b, SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof a);
	return rc < 0 ? rc : fd;
}

static long remount_ro_at(const stage_block *b, const char *path, unsigned long flags)
{
	return b->remount_ro ? gated(b, SYS_mount, 0, path, 0, flags, 0) : 0;
}

/* A clone of a detached mount: directly, or (holder, see stage.h) from its
 * name in the holder namespace, where it is attached on its first use --
 * found unattached when its directory still lies on the holder's own root. */
static long clone_mount(const stage_block *b, int fd, const char *name, unsigned long ro_flags)
{
	if (b->holder_mntns < 0)
		return gated(b, SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH, 0, 0);
	struct stat top, at;
	long rc;
	if ((rc = raw4(SYS_newfstatat, b->holder_root, "", &top, AT_EMPTY_PATH)) < 0 ||
	    (rc = raw4(SYS_newfstatat, AT_FDCWD, name, &at, 0)) < 0)
		return rc;
	if (at.st_dev == top.st_dev) {
		if ((rc = gated(b, SYS_move_mount, fd, "", AT_FDCWD, name, MOVE_MOUNT_F_EMPTY_PATH)) < 0)
			return rc;
		if (ro_flags && (rc = remount_ro_at(b, name, ro_flags)) < 0)
			return rc;
	}
	return gated(b, SYS_open_tree, AT_FDCWD, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC, 0, 0);
}

static long attach(const stage_block *b, long fd, long root, const char *where)
{
	return gated(b, SYS_move_mount, fd, "", root < 0 ? AT_FDCWD : root, where, MOVE_MOUNT_F_EMPTY_PATH);
}

#define TRY(call, what) do { long rc_ = (call); if (rc_ < 0) init_fail(rep, rc_, (what), NULL); } while (0)

/* Build the stage's root and enter it. Still in the engine's mount namespace
 * at first: only detached mounts are made there, the namespace itself is
 * never changed. Then into a private copy of the empty namespace, the root
 * stacked on its "/", and chroot: beneath it there is only an empty tmpfs. */
static void build_root(const stage_block *b, int rep)
{
	long usr, pkg, box = -1, lower = -1, root, dev;
	TRY(usr = tree_clone_ro(b, b->usr_path, AT_RECURSIVE), "open the package's usr/");
	TRY(pkg = tree_clone_ro(b, b->pkg_path, 0), "open the package directory");
	/* Names are relative to the holder's root (the namespace's own root
	 * may be another mount where the engine runs chrooted). */
	if (b->holder_mntns >= 0) {
		TRY(gated(b, SYS_setns, b->holder_mntns, CLONE_NEWNS, 0, 0, 0), "enter the holder mount namespace");
		TRY(raw1(SYS_fchdir, b->holder_root), "enter the holder mount namespace");
	}
	if (b->box_mnt >= 0)
		TRY(box = clone_mount(b, b->box_mnt, b->box_name, 0), "clone the box");
	if (b->lower_mnt >= 0)
		TRY(lower = clone_mount(b, b->lower_mnt, b->lower_name, 0), "clone the compiled box");
	TRY(root = clone_mount(b, b->root_tmpl, b->root_name, RO_FLAGS), "clone the root");
	TRY(dev = clone_mount(b, b->dev_tmpl, b->dev_name, RO_DEV_FLAGS), "clone /dev");
	TRY(gated(b, SYS_setns, b->empty_mntns, CLONE_NEWNS, 0, 0, 0), "enter the empty mount namespace");
	TRY(gated(b, SYS_unshare, CLONE_NEWNS, 0, 0, 0, 0), "enter the empty mount namespace");
	const char *what = "attach the root, /usr, /pkg, /dev, /box";
	TRY(attach(b, root, -1, "/"), what);
	TRY(attach(b, usr, root, "usr"), what);
	TRY(attach(b, pkg, root, "pkg"), what);
	TRY(attach(b, dev, root, "dev"), what);
	if (lower >= 0) {
		/* The layers' places until the overlay is mounted: the lower on
		 * /box (the overlay then covers it), the upper on /tmp. */
		TRY(attach(b, lower, root, "box"), what);
		if (box >= 0)
			TRY(attach(b, box, root, "tmp"), what);
	} else if (box >= 0) {
		TRY(attach(b, box, root, "box"), what);
	}
	TRY(raw1(SYS_fchdir, root), "enter the root");
	TRY(gated(b, SYS_chroot, ".", 0, 0, 0, 0), "enter the root");
	TRY(raw1(SYS_chdir, "/"), "enter the root");
	TRY(remount_ro_at(b, "/usr", RO_FLAGS), "make /usr read-only");
	TRY(remount_ro_at(b, "/pkg", RO_FLAGS), "make /pkg read-only");
	if (lower >= 0) {
		TRY(gated(b, SYS_mount, "overlay", "/box", "overlay", MS_NOSUID | MS_NODEV,
		          "lowerdir=/box,upperdir=/tmp/u,workdir=/tmp/w"), "mount the overlay on /box");
		/* The overlay keeps its own private clones of the layers. */
		TRY(gated(b, SYS_umount2, "/tmp", MNT_DETACH, 0, 0, 0), "detach the upper layer");
	}
	TRY(gated(b, SYS_mount, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, b->tmp_opts), "mount /tmp");
	raw1(SYS_umask, 0);
	TRY(gated(b, SYS_mount, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, b->tmp_opts), "mount /dev/shm");
	/* hidepid=2: the job sees only its own processes -- not init, whose
	 * memory is the engine's. */
	TRY(gated(b, SYS_mount, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2"), "mount /proc");
	int fds[] = { (int)usr, (int)pkg, (int)box, (int)lower, (int)root, (int)dev };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			raw1(SYS_close, fds[i]);
}

struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

/* The command: still init's clone (CLONE_VM|CLONE_VFORK: init waits, its
 * memory is borrowed until the exec). Drop everything, lock down, exec. */
static void command_main(void *arg)
{
	const stage_block *b = arg;
	/* Handled signals were reset by CLONE_CLEAR_SIGHAND; ignored ones are
	 * inherited as ignored, so they are reset here. */
	struct k_sigaction dfl = { 0 };
	for (int sig = 1; sig <= 64; sig++)
		if (b->ignored_signals & (1ull << (sig - 1)))
			raw4(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	uint64_t none = 0;
	raw4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
	raw0(SYS_setsid);
	const char *step = "join the cgroup";
	long rc;
	/* Into the slot's cgroups (v1; on v2 the clone put us there) before
	 * anything of the job runs, then a cgroup namespace rooted there. */
	for (int i = 0; i < b->ncg; i++)
		if ((rc = raw3(SYS_write, FD_CGROUPS + i, "0", 1)) != 1) {
			rc = rc < 0 ? rc : -EIO;
			goto fail;
		}
	step = "new cgroup namespace";
	if ((rc = gated(b, SYS_unshare, CLONE_NEWCGROUP, 0, 0, 0, 0)) < 0)
		goto fail;
	struct rlimit rl = { 0, 0 };
	raw4(SYS_prlimit64, 0, RLIMIT_CORE, &rl, NULL);
	if (b->nproc_limit) {
		rl = (struct rlimit){ b->nproc_limit, b->nproc_limit };
		raw4(SYS_prlimit64, 0, RLIMIT_NPROC, &rl, NULL);
	}
	if (b->max_data) {
		rl = (struct rlimit){ b->max_data, b->max_data };
		raw4(SYS_prlimit64, 0, RLIMIT_DATA, &rl, NULL);
	}
	if (b->max_open_files) {
		rl = (struct rlimit){ b->max_open_files, b->max_open_files };
		raw4(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL);
	}
	if (b->max_file_size) {
		rl = (struct rlimit){ b->max_file_size, b->max_file_size };
		raw4(SYS_prlimit64, 0, RLIMIT_FSIZE, &rl, NULL);
	}
	if (b->max_stack) {
		rl = (struct rlimit){ b->max_stack, b->max_stack };
		raw4(SYS_prlimit64, 0, RLIMIT_STACK, &rl, NULL);
	}
	if (b->max_as) {
		rl = (struct rlimit){ b->max_as, b->max_as };
		raw4(SYS_prlimit64, 0, RLIMIT_AS, &rl, NULL);
	}
	/* A per-process backstop (sandbox.c, rlimit_cpu_secs). */
	if (b->cpu_secs) {
		rl = (struct rlimit){ b->cpu_secs, b->cpu_secs + 1 };
		raw4(SYS_prlimit64, 0, RLIMIT_CPU, &rl, NULL);
	}
	step = "restore the CPU set";
	if (b->pinned && (rc = raw3(SYS_sched_setaffinity, 0, sizeof b->cpus, b->cpus)) < 0)
		goto fail;
	step = "drop privileges";
	if ((rc = raw2(SYS_setgroups, 0, NULL)) < 0 || (rc = raw3(SYS_setresgid, b->gid, b->gid, b->gid)) < 0 ||
	    (rc = raw3(SYS_setresuid, b->uid, b->uid, b->uid)) < 0)
		goto fail;
	step = "no_new_privs";
	if ((rc = raw5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
		goto fail;
	step = "chdir /box";
	if ((rc = raw1(SYS_chdir, "/box")) < 0)
		goto fail;
	/* Usually the engine's own filter, inherited: nothing to compile here. */
	step = "seccomp";
	if (!b->filter_inherited && (rc = raw3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &b->seccomp)) < 0)
		goto fail;
	/* The block is init's (CLONE_VFORK: init reads it only once we exec);
	 * the one field the command writes. */
	__atomic_store_n(&((stage_block *)b)->exec_ns, mono_raw(), __ATOMIC_RELEASE);   /* the engine's wall timer reads it */
	rc = raw3(SYS_execve, b->argv[0], b->argv, b->envp);
	step = "exec";
fail:;
	struct { int e; char step[64]; } ex = { (int)-rc, "" };
	str_put(ex.step, sizeof ex.step, 0, step);
	raw3(SYS_write, b->exec_w, &ex, sizeof ex);
	for (;;)
		raw1(SYS_exit, 127);
}

void stage_init_main(void *arg)
{
	stage_block *b = arg;
	raw5(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);   /* the engine died: so does the stage */
	raw5(SYS_prctl, PR_SET_NAME, "init", 0, 0, 0);
	/* A crash of init must never dump core: its memory is the engine's. */
	struct rlimit no_core = { 0, 0 };
	raw4(SYS_prlimit64, 0, RLIMIT_CORE, &no_core, NULL);
	int rep = b->rep_w;
	/* init and the command's first steps stay on the CPU init started on:
	 * every hop to another, idle CPU is a wake-up through the hypervisor on
	 * a VM (~0.1 ms a stage here). The command gets the full set back. */
	if (raw3(SYS_sched_getaffinity, 0, sizeof b->cpus, b->cpus) > 0) {
		unsigned cpu = 0;
		uint64_t one[sizeof b->cpus / sizeof b->cpus[0]] = { 0 };
		if (raw3(SYS_getcpu, &cpu, NULL, NULL) == 0 && cpu < sizeof b->cpus * 8) {
			one[cpu / 64] = 1ull << (cpu % 64);
			if (raw3(SYS_sched_setaffinity, 0, sizeof one, one) == 0)
				b->pinned = 1;
		}
	}
	if (b->netns >= 0)
		TRY(gated(b, SYS_setns, b->netns, CLONE_NEWNET, 0, 0, 0), "enter the network namespace");
	TRY(gated(b, SYS_sethostname, "piston", 6, 0, 0, 0), "set the hostname");
	build_root(b, rep);
	/* At the fixed numbers above (FD_*), in keep[]'s order; everything else
	 * of the engine's table is closed. The engine's descriptors are almost
	 * always above that range; when one is not, all are first moved out of
	 * the way so no dup clobbers another. */
	int keep[5 + 3 + 1];
	int nkeep = 0;
	keep[nkeep++] = b->in_r;
	keep[nkeep++] = b->out_w;
	keep[nkeep++] = b->err_w;
	keep[nkeep++] = b->rep_w;
	keep[nkeep++] = b->ctl_r;
	for (int i = 0; i < b->ncg && i < 3; i++)
		keep[nkeep++] = b->cg_procs[i];
	if (b->cg_into >= 0)
		keep[nkeep++] = b->cg_into;
	int clash = 0;
	for (int i = 0; i < nkeep; i++)
		clash |= keep[i] >= 0 && keep[i] < nkeep;
	for (int i = 0; clash && i < nkeep; i++)
		if (keep[i] >= 0 && (keep[i] = (int)raw3(SYS_fcntl, keep[i], F_DUPFD, 32)) < 0)
			init_fail(rep, keep[i], "arrange descriptors", NULL);
	for (int i = 0; i < nkeep; i++) {
		/* 3 and up are init's own (report, control, cgroup files): not the program's. */
		long rc = keep[i] >= 0 ? raw3(SYS_dup3, keep[i], i, i < 3 ? 0 : O_CLOEXEC) : 0;
		if (rc < 0)
			init_fail(keep[FD_REPORT], rc, "arrange descriptors", NULL);
	}
	raw3(SYS_close_range, (unsigned)nkeep, ~0u, 0u);
	/* The engine's table is gone from ours (stage.h): the closer may close
	 * what it holds. */
	if (b->inherit_word) {
		__atomic_store_n(b->inherit_word, 0, __ATOMIC_RELEASE);
		raw3(SYS_futex, b->inherit_word, FUTEX_WAKE_PRIVATE, 0x7fffffff);
	}
	if (b->ctl_r < 0)
		raw1(SYS_close, FD_CONTROL);
	rep = FD_REPORT;
	const int ctl = FD_CONTROL;
	int cg_dir = b->cg_into >= 0 ? FD_CGROUPS + b->ncg : -1;
	uint64_t chld = 1ull << (SIGCHLD - 1);
	raw4(SYS_rt_sigprocmask, SIG_SETMASK, &chld, NULL, 8);
	long sfd = raw4(SYS_signalfd4, -1, &chld, 8, SFD_CLOEXEC | SFD_NONBLOCK);
	if (b->setup_delay_ms) {
		struct timespec d = { .tv_sec = b->setup_delay_ms / 1000, .tv_nsec = (long)(b->setup_delay_ms % 1000) * 1000000 };
		raw2(SYS_nanosleep, &d, NULL);
	}
	int exec_pipe[2];
	if (sfd < 0)
		init_fail(rep, sfd, "init pipes", NULL);
	TRY(raw2(SYS_pipe2, exec_pipe, O_CLOEXEC), "init pipes");
	b->exec_w = exec_pipe[1];
	/* The command borrows init's memory (the engine's) until it execs: no
	 * page tables copied; init waits meanwhile. Only the command gets stdio. */
	struct clone_args ca = {
		.flags = CLONE_VM | CLONE_VFORK | (cg_dir >= 0 ? CLONE_INTO_CGROUP : 0),
		.exit_signal = SIGCHLD,
		.stack = (uint64_t)(uintptr_t)b->cmd_stack,
		.stack_size = b->cmd_stack_size,
		.cgroup = cg_dir >= 0 ? (uint64_t)cg_dir : 0,
	};
	__atomic_store_n(&b->exec_ns, 0, __ATOMIC_RELEASE);   /* a reused block holds the last stage's */
	long cmdpid = stage_clone3(&ca, sizeof ca, command_main, b, b->gate_key);
	if (cmdpid < 0)
		init_fail(rep, cmdpid, "start the command", NULL);
	/* CLONE_VFORK: the command has exec'd (or failed) by now. */
	stage_report r = { .kind = STAGE_REPORT_STATUS, .exec_ns = b->exec_ns ? b->exec_ns : mono_raw() };
	raw1(SYS_close, exec_pipe[1]);
	/* A stdin read end held here would let data pile up unread; write ends
	 * would only delay EOF until we exit. */
	raw1(SYS_close, 0);
	raw1(SYS_close, 1);
	raw1(SYS_close, 2);
	struct { int e; char step[64]; } ex = { 0, "" };
	long k = raw3(SYS_read, exec_pipe[0], &ex, sizeof ex);
	raw1(SYS_close, exec_pipe[0]);
	/* The cgroup descriptors, exactly: with a control pipe (interactive)
	 * FD_CONTROL is taken, so the signalfd above lies beyond them -- closing
	 * it with them left poll() reporting POLLNVAL at once, and init spun on
	 * the CPU it shares with the command for the whole run. */
	if (nkeep > FD_CGROUPS)
		raw3(SYS_close_range, FD_CGROUPS, (unsigned)nkeep - 1, 0u);
	if (k > 0) {
		r.kind = STAGE_REPORT_EXEC_FAILED;
		r.value = ex.e;
		str_put(r.what, sizeof r.what, str_put(r.what, sizeof r.what, str_put(r.what, sizeof r.what, 0, ex.step), " "),
		        b->argv[0]);
	}
	int ctl_open = b->ctl_r >= 0;
	for (int done = 0; !done; ) {
		struct pollfd p[2] = { { (int)sfd, POLLIN, 0 }, { ctl_open ? ctl : -1, POLLIN, 0 } };
		long pr = raw3(SYS_poll, p, 2, -1);
		if (pr < 0 && pr != -EINTR)
			break;
		if (pr > 0 && p[1].revents) {
			unsigned char sig;
			long got = raw3(SYS_read, ctl, &sig, 1);
			if (got == 1)
				raw2(SYS_kill, cmdpid, sig);
			else if (got != -EINTR && got != -EAGAIN)
				ctl_open = 0;
		}
		struct signalfd_siginfo si;
		while (raw3(SYS_read, sfd, &si, sizeof si) > 0)
			;
		int st;
		struct rusage cru;
		for (long w; (w = raw4(SYS_wait4, -1, &st, WNOHANG, &cru)) > 0; )
			if (w == cmdpid) {
				if (r.kind == STAGE_REPORT_STATUS)
					r.value = st;
				r.cmd_cpu_us = (uint64_t)cru.ru_utime.tv_sec * 1000000u + (uint64_t)cru.ru_utime.tv_usec +
				               (uint64_t)cru.ru_stime.tv_sec * 1000000u + (uint64_t)cru.ru_stime.tv_usec;
				r.exit_ns = mono_raw();
				done = 1;
			}
	}
	struct rusage ru;
	if (raw2(SYS_getrusage, RUSAGE_CHILDREN, &ru) == 0) {
		r.cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
		           (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
		r.maxrss_kb = (uint64_t)ru.ru_maxrss;
	}
	/* With the report, our mount namespace: the engine holds it, so our exit
	 * does not wait for its teardown (on_report in sandbox.c). Without it
	 * (no /proc, say) the exit tears it down as usual. */
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm = { 0 };
	struct iovec iov = { &r, sizeof r };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	long ns = raw3(SYS_open, "/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC, 0);
	if (ns >= 0) {
		m.msg_control = cm.b;
		m.msg_controllen = sizeof cm.b;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		int nsfd = (int)ns;
		__builtin_memcpy(CMSG_DATA(c), &nsfd, sizeof nsfd);
	}
	raw3(SYS_sendmsg, rep, &m, MSG_NOSIGNAL);
	die(0);   /* the PID namespace dies with us: every leftover process is killed */
}
