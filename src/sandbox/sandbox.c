/*
 * sandbox: the engine side (system, boxes, stages on the event loop) and the
 * stage's init (PID 1 of the new PID namespace, our own code, no exec).
 *
 * A stage: cgroup slot prepared (limits, counters reset) -> clone3 with new
 * PID/IPC/UTS namespaces and a pidfd -> the child enters the slot's
 * pooled network namespace and the slot cgroup (then a cgroup namespace
 * rooted there: clone3 would root it at the engine's), builds a tmpfs root
 * from detached mounts (open_tree clones of the package and of the box),
 * moves it into a private copy of a pre-made empty mount namespace (nothing
 * of the host in it, nothing to unmount) and chroots into it,
 * forks the command (setsid, cgroups, rlimits, uid/gid, no_new_privs, exec;
 * the seccomp filter came with the clone from the engine's thread: see the
 * gate below), reaps everything and, just before exiting, reports the
 * command's status -- with its mount namespace, whose teardown the closer
 * thread then does -- on a socket. Its exit tears the PID namespace down,
 * killing every process of the stage. The engine watches the output pipes,
 * the pidfd, the OOM eventfd and two timers (wall, CPU) on the loop.
 */
#include "sandbox.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/futex.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>

#include "cgroup.h"
#include "json.h"
#include "config.h"
#include "log.h"
#include "seccomp.h"
#include "stage.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The box, /tmp and /dev/shm are capped at the box size and BOX_INODES
 * (the slot's fixed root and /dev are tiny: see slot_root_make). */
#define BOX_INODES 16384u

struct sbx_system {
	unsigned slots;
	cg_system *cg;
	int *netns;               /* per slot: an empty network namespace with lo up, or -1 */
	int empty_mntns;          /* a mount namespace holding one empty read-only tmpfs */
	/* Kernels that cannot clone a detached mount (before 6.15): a mount
	 * namespace whose writable tmpfs root holds the slots' templates and
	 * the boxes, attached at r<slot>, d<slot>, b<id> (stage.h); its root
	 * directory, for those mountpoints; the next box's id. -1 otherwise. */
	int holder_mntns, holder_root;
	unsigned next_box_id;
	bool remount_ro;          /* no mount_setattr (before 5.12): bind remounts instead */
	bool overlay;             /* a stage's /box can be an overlay (sbx_overlay_available) */
	uint32_t setup_delay_ms;  /* PISTON_SANDBOX_SETUP_DELAY_MS (stage.h): a stalled set-up, for tests */
	char fallbacks[160];      /* the kernel fallbacks in use, for the start line */
	uid_t uid_base;
	gid_t gid_base;
	unsigned ncpus;
	unsigned clk_tck;         /* /proc/PID/stat's unit of CPU time per second */
	uint64_t tmp_size;        /* /tmp and /dev/shm cap */
	char tmp_opts[96];        /* their mount options, made once */
	seccomp_prog seccomp;
	uint64_t ignored_signals;  /* reset to default in every stage's command */
	/* Closing a box's mount fd, or a stage's mount namespace (init hands it
	 * over), unmounts, which waits for an RCU grace period: a helper thread
	 * does it, not the loop. The thread has a descriptor table of its own;
	 * each descriptor travels to it as SCM_RIGHTS and leaves ours at once,
	 * so no stage cloned later inherits it (init's clone copies our table). */
	pthread_t closer;
	int closer_fd;            /* our end of its socket; -1 without the thread */
	/* Per slot: the clone number of the stage whose init still holds its
	 * copy of our table (until the close_range early in its set-up), else
	 * 0. The closer waits for every init cloned before a descriptor left
	 * our table to drop its copy (a futex on the word) before it closes
	 * the descriptor: the last reference, and the unmount's wait, are its
	 * own, never a stage's. Written by the loop thread and init, read by
	 * the closer (__atomic). */
	uint32_t *inherit;
	uint32_t clone_seq;       /* the last clone's number (loop thread only; never 0) */
	/* Hand-overs: the loop numbers each descriptor it sends and publishes
	 * the number once its own copy is closed; the closer closes a
	 * descriptor only after that, so its close is the last reference and
	 * the unmount is its own. Without the wait the closer, on the other
	 * CPU, often closed first and the loop's close paid the unmount (0.1-0.4
	 * ms per stage, measured with strace -T). (__atomic; closer_waiting:
	 * the closer sleeps on handed_closed and needs a FUTEX_WAKE.) */
	uint32_t handed_seq;      /* loop thread only */
	uint32_t handed_closed;
	int closer_waiting;
	struct slot_root *roots;  /* per slot: the root's fixed parts, made on first use */
};

/* The parts of a job's root that never change for a slot -- directories,
 * the /bin.. links, /etc files, the /dev nodes -- as two read-only detached
 * tmpfs mounts. Each stage attaches clones of them (open_tree shares the
 * superblock): no tmpfs to create and destroy and ~40 fewer system calls per
 * stage. Nothing of a job can write them: read-only mounts owned by root,
 * and the job's processes have no capabilities. */
struct slot_root {
	int root;                 /* "/": usr pkg box tmp dev proc etc, bin lib lib64 sbin, etc/... */
	int dev;                  /* "/dev": null zero full random urandom, fd std*, shm */
	stage_block *spare;       /* the last stage's block, for the next (its init has exited) */
};

struct sbx_box {
	sbx_system *sys;
	int mntfd;                /* the detached tmpfs; closing it frees everything */
	unsigned holder_id;       /* holder mode: attached as b<id> there (0: not) */
	uid_t uid;
	gid_t gid;
};

enum kill_reason { KILL_NONE, KILL_WALL, KILL_CPU, KILL_PROCESS_CPU, KILL_OUTPUT, KILL_MEMORY, KILL_INTERNAL };

struct sbx_run {
	sbx_system *sys;
	loop *l;
	unsigned slot;
	sbx_limits lim;
	sbx_callbacks cb;
	pid_t pid;
	int pidfd, in_fd, out_fd, err_fd, rep_fd, ctl_fd, oom_fd;
	int mntns_fd;              /* init's mount namespace, sent with its report: torn down off the loop */
	const char *stdin_data;    /* non-interactive: the caller's bytes */
	size_t stdin_len, stdin_off;
	buf stdin_queue;           /* interactive: written but not yet taken by the pipe */
	bool stdin_close_pending;  /* interactive: close once the queue is empty */
	bool interactive;
	loop_timer *wall_timer, *cpu_timer;
	loop_timer *process_cpu_timer;   /* lim.cpu_ms_per_process: each process's CPU, polled */
	uint64_t start_ns;
	uint64_t enter_ns;         /* sbx_start was called (the latency split) */
	enum kill_reason reason;
	uint64_t memory_at_kill;   /* cg_slot_memory_now when the engine killed it (0: not sampled) */
	sbx_stream over_stream;    /* which stream hit output_max (OL) */
	char internal[128];
	stage_report rep;
	stage_block *block;        /* init's memory: freed once init has exited */
	size_t rep_len;
	sbx_result res;
};

/* ---- the seccomp gate ---- */

/* The engine's thread that made the first system carries the sandbox's
 * gated seccomp filter (seccomp.h) for the rest of its life -- a filter
 * cannot be removed -- and every stage it starts inherits it at clone: no
 * filter is compiled per stage. Process state, like the filter itself: a
 * second system in the same process reuses it. Builds with a sanitizer
 * keep the per-stage filter instead (LeakSanitizer needs ptrace at exit). */
static struct {
	bool on;
	pthread_t thread;
	uint64_t key;
} gate;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GATE_POSSIBLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GATE_POSSIBLE 0
#endif
#endif
#ifndef GATE_POSSIBLE
#define GATE_POSSIBLE 1
#endif

/* Install the gated filter on the calling thread, once per process. */
static void gate_install(void)
{
	if (gate.on || !GATE_POSSIBLE)
		return;
	uint64_t key = 0;
	while (key == 0)
		if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key)
			return;
	gate.key = key;   /* before the filter: calls made with it pass either way */
	seccomp_prog p;
	if (seccomp_build(&p, &key) != 0) {
		log_warn("sandbox: the gated seccomp program came out malformed: each stage compiles its own");
		return;
	}
	if (seccomp_install(&p) != 0) {
		log_warn("sandbox: cannot install the engine's seccomp filter (%s): each stage compiles its own",
		         strerror(errno));
		return;
	}
	gate.thread = pthread_self();
	gate.on = true;
}

/* Whether a stage started on this thread inherits the filter. */
static bool gate_inherited(void) { return gate.on && pthread_equal(gate.thread, pthread_self()); }

/* ---- raw syscalls musl does not wrap, and the gated ones ---- */

#define GATED(n, a, b, c, d, e) syscall((n), (a), (b), (c), (d), (e), (long)gate.key)

static long sys_fsopen(const char *name, unsigned flags) { return GATED(SYS_fsopen, name, flags, 0, 0, 0); }
static long sys_fsconfig(int fd, unsigned cmd, const char *key, const void *val, int aux)
{
	return GATED(SYS_fsconfig, fd, cmd, key, val, aux);
}
static long sys_fsmount(int fd, unsigned flags, unsigned attrs) { return GATED(SYS_fsmount, fd, flags, attrs, 0, 0); }
static long sys_move_mount(int from, const char *fp, int to, const char *tp, unsigned flags)
{
	return GATED(SYS_move_mount, from, fp, to, tp, flags);
}
static long sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *a)
{
	return GATED(SYS_mount_setattr, dfd, path, flags, a, sizeof *a);
}
static int sys_openat2(int dfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags, .mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	return (int)syscall(SYS_openat2, dfd, path, &how, sizeof how);
}

/* ---- network namespace pool ---- */

/* A new empty network namespace with lo up, as an fd; the caller's own
 * namespace is restored before returning. */
static int netns_make(int home)
{
	if (GATED(SYS_unshare, CLONE_NEWNET, 0, 0, 0, 0) < 0)
		return -1;
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		struct ifreq ifr = {0};
		snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
		if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
			ifr.ifr_flags |= IFF_UP;
			ioctl(s, SIOCSIFFLAGS, &ifr);
		}
		close(s);
	}
	if (GATED(SYS_setns, home, CLONE_NEWNET, 0, 0, 0) < 0) {
		/* Cannot get back: the engine itself would be cut off. */
		log_error("sandbox: cannot return to the host network namespace: %s", strerror(errno));
		abort();
	}
	return fd;
}

/* ---- the empty mount namespace ---- */

/* A mount namespace whose only mount is an empty read-only tmpfs. Stages
 * copy it (unshare) instead of the host's mount table: nothing of the host
 * is in their namespace, there is nothing to unmount before the job runs,
 * and chroot into the stage's root leaves only that empty tmpfs beneath.
 * Made once by a short-lived child; -1 on failure. holder_root (or NULL):
 * the holder namespace instead (struct sbx_system), its root writable and
 * opened into *holder_root. remount_ro: no mount_setattr on this kernel. */
static int empty_mntns_make(char *err, size_t errlen, int *holder_root, bool remount_ro)
{
	/* The helper sends its namespace (and root) back as descriptors: a
	 * path under /proc/<pid> would name another process where /proc is
	 * not of our PID namespace (an engine started by `unshare --pid`). */
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(sp[0]);
		int fs = -1, root = -1, fds[2] = { -1, -1 };
		/* Opened now: the new root has no /proc. */
		int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
		const char *step = "unshare the mount namespace";
		struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
		if (GATED(SYS_unshare, CLONE_NEWNS, 0, 0, 0, 0) == 0 && (step = "make / private (is / a mount point?)",
		    GATED(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) && (step = "create a tmpfs",
		    (fs = (int)sys_fsopen("tmpfs", FSOPEN_CLOEXEC)) >= 0) &&
		    sys_fsconfig(fs, FSCONFIG_SET_STRING, "size", holder_root ? "64k" : "4k", 0) == 0 &&
		    sys_fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", holder_root ? "65536" : "4", 0) == 0 &&
		    sys_fsconfig(fs, FSCONFIG_SET_STRING, "mode", holder_root ? "0700" : "0755", 0) == 0 &&
		    sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0 &&
		    (root = (int)sys_fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
		                                                  MOUNT_ATTR_NOEXEC)) >= 0 && (step = "mount it on /",
		    sys_move_mount(root, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) == 0 && fchdir(root) == 0) &&
		    (step = "pivot_root into it (is / a mount point?)", GATED(SYS_pivot_root, ".", ".", 0, 0, 0) == 0) &&
		    (step = "open the namespace (no /proc?)",
		     (fds[0] = openat(proc, "self/ns/mnt", O_RDONLY | O_CLOEXEC)) >= 0) &&
		    (step = "detach the old root", GATED(SYS_umount2, ".", MNT_DETACH, 0, 0, 0) == 0 && chdir("/") == 0) &&
		    (step = "make it read-only", holder_root ? true : remount_ro
		        ? GATED(SYS_mount, NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
		                MS_NOEXEC, NULL) == 0
		        : sys_mount_setattr(AT_FDCWD, "/", 0, &ro) == 0) &&
		    (step = "open its root", (fds[1] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)) {
			char cbuf[CMSG_SPACE(sizeof fds)] = { 0 };
			struct iovec iov = { .iov_base = "", .iov_len = 1 };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof fds);
			memcpy(CMSG_DATA(cm), fds, sizeof fds);
			_exit(sendmsg(sp[1], &mh, 0) == 1 ? 0 : 1);
		}
		char msg[160];
		int n = snprintf(msg, sizeof msg, "%s: %s", step, strerror(errno));
		(void)!write(sp[1], msg, n > 0 && (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
		_exit(1);
	}
	close(sp[1]);
	char reply[160];
	int fds[2] = { -1, -1 };
	char cbuf[CMSG_SPACE(sizeof fds)];
	struct iovec iov = { .iov_base = reply, .iov_len = sizeof reply - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	ssize_t got = pid > 0 ? recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC) : -1;
	struct cmsghdr *cm = got > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof fds))
		memcpy(fds, CMSG_DATA(cm), sizeof fds);
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
	} else if (got == 1 && reply[0] == 0 && fds[0] >= 0) {
		if (holder_root)
			*holder_root = fds[1];
		else
			close(fds[1]);
	} else {
		reply[got > 0 ? got : 0] = 0;
		snprintf(err, errlen, "%s", got > 0 ? reply : "the helper process died");
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		fds[0] = -1;
	}
	close(sp[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return fds[0];
}

/* ---- what the kernel can do ---- */

static int tmpfs_detached(const char *size, const char *inodes, unsigned attrs);

/* Probe, once at start, the mount features whose absence has a fallback
 * (never a version string: distributions backport). Records the fallbacks
 * in s; returns whether a detached mount can be cloned. */
static bool probe_kernel(sbx_system *s)
{
	int mnt = tmpfs_detached("4k", "4", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return true;   /* no fsmount at all: sbx_system_init says what is needed */
	struct mount_attr none = { 0 };
	/* PISTON_SANDBOX_FALLBACKS=1 takes the fallbacks on any kernel: to test
	 * and measure them on a host that needs none. */
	const char *force = getenv("PISTON_SANDBOX_FALLBACKS");
	bool forced = force && !strcmp(force, "1");
	s->remount_ro = forced || (sys_mount_setattr(mnt, "", AT_EMPTY_PATH, &none) < 0 && errno == ENOSYS);
	long clone = GATED(SYS_open_tree, mnt, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH, 0, 0);
	bool detached_clone = clone >= 0 && !forced;
	if (clone >= 0)
		close((int)clone);
	close(mnt);
	snprintf(s->fallbacks, sizeof s->fallbacks, "%s%s%s",
	         detached_clone ? "" : "detached mounts attached in a holder namespace (no open_tree clone of them)",
	         !detached_clone && s->remount_ro ? "; " : "",
	         s->remount_ro ? "bind remounts (no mount_setattr)" : "");
	return detached_clone;
}

/* Can overlayfs stack a tmpfs upper on a tmpfs lower here? A short-lived
 * child tries it in a private mount namespace of its own, on tmpfs mounts
 * it made (nothing of the host is touched): some containers refuse it. */
static bool probe_overlay(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		int mnt;
		if (GATED(SYS_unshare, CLONE_NEWNS, 0, 0, 0, 0) < 0 ||
		    GATED(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    (mnt = tmpfs_detached("64k", "64", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0 ||
		    sys_move_mount(mnt, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 || fchdir(mnt) < 0)
			_exit(1);
		static const char *const dirs[] = { "l", "u", "w", "m" };
		for (int i = 0; i < 4; i++)
			if (mkdir(dirs[i], 0700) < 0)
				_exit(1);
		int fd;
		if (GATED(SYS_mount, "overlay", "m", "overlay", MS_NOSUID | MS_NODEV, "lowerdir=l,upperdir=u,workdir=w") < 0 ||
		    (fd = open("m/probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
			_exit(1);
		_exit(0);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool sbx_overlay_available(const sbx_system *s) { return s->overlay; }
bool sbx_lower_first_use_alone(const sbx_system *s) { return s->holder_mntns >= 0; }

/* ---- system ---- */

/* What the closer thread is sent with each descriptor (SCM_RIGHTS): for a
 * box attached in the holder namespace, its id there (0: none); and the
 * last clone's number when the descriptor left our table. */
struct closer_msg {
	unsigned holder_id;
	uint32_t seq;
	uint32_t handed;          /* the hand-over's number (sbx_system.handed_seq) */
};

struct closer_start {
	int in, holder_mntns, holder_root, ready;
	uint32_t *inherit;
	unsigned slots;
	uint32_t *handed_closed;
	int *waiting;
};

/* Until no init cloned up to seq (wrapping) still holds a copy of our
 * table. A second per word at most: an init that hung would only move the
 * cost back to itself. */
/* Sleep while *word is still v, a second at most: false once that second
 * ran out. */
static bool futex_wait_a_second(uint32_t *word, uint32_t v)
{
	struct timespec limit = { 1, 0 };
	return !(syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, v, &limit, NULL, 0) < 0 && errno == ETIMEDOUT);
}

static void wait_for_inits(const struct closer_start *st, uint32_t seq)
{
	for (unsigned i = 0; i < st->slots; i++) {
		uint32_t v;
		while ((v = __atomic_load_n(&st->inherit[i], __ATOMIC_ACQUIRE)) != 0 && (int32_t)(v - seq) <= 0)
			if (!futex_wait_a_second(&st->inherit[i], v))
				break;
	}
}

/* Until the loop has closed its copy of hand-over n (it does so right after
 * sending it; a second at most, as for the inits). */
static void wait_for_loop_close(const struct closer_start *st, uint32_t n)
{
	if ((int32_t)(__atomic_load_n(st->handed_closed, __ATOMIC_SEQ_CST) - n) >= 0)
		return;   /* the usual case */
	/* Said before the second look: the loop publishes, then looks at this. */
	__atomic_store_n(st->waiting, 1, __ATOMIC_SEQ_CST);
	uint32_t v;
	while ((int32_t)((v = __atomic_load_n(st->handed_closed, __ATOMIC_SEQ_CST)) - n) < 0)
		if (!futex_wait_a_second(st->handed_closed, v))
			break;
	__atomic_store_n(st->waiting, 0, __ATOMIC_SEQ_CST);
}

static void *closer_main(void *arg)
{
	struct closer_start st = *(struct closer_start *)arg;
	/* A table of our own (the loop's clones must never copy what is queued
	 * here), then everything of the engine's in it closed but our socket.
	 * Holder mode: the thread lives in the holder namespace, where it
	 * unmounts the boxes (setns needs a filesystem context of its own). */
	char ok = GATED(SYS_unshare, CLONE_FILES, 0, 0, 0, 0) == 0;
	if (ok && st.holder_mntns >= 0 && (GATED(SYS_unshare, CLONE_FS, 0, 0, 0, 0) < 0 ||
	                                   GATED(SYS_setns, st.holder_mntns, CLONE_NEWNS, 0, 0, 0) < 0 ||
	                                   fchdir(st.holder_root) < 0))   /* the boxes' names are below it */
		ok = 0;
	(void)!write(st.ready, &ok, 1);
	if (!ok)
		return NULL;    /* the engine closes its end and joins us */
	if (st.in > 0)
		syscall(SYS_close_range, 0u, (unsigned)st.in - 1, 0u);
	syscall(SYS_close_range, (unsigned)st.in + 1, ~0u, 0u);
	for (;;) {
		struct closer_msg m;
		union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
		struct iovec iov = { &m, sizeof m };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
		ssize_t n = recvmsg(st.in, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;      /* EOF: the engine is stopping, and all it sent is closed */
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		int fd = -1;
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
		if (fd < 0 || n != sizeof m)
			continue;
		if (m.holder_id) {
			char name[16];
			snprintf(name, sizeof name, "b%u", m.holder_id);
			GATED(SYS_umount2, name, MNT_DETACH, 0, 0, 0);   /* EINVAL: never attached */
			unlinkat(AT_FDCWD, name, AT_REMOVEDIR);
		}
		wait_for_inits(&st, m.seq);
		wait_for_loop_close(&st, m.handed);
		close(fd);
	}
	close(st.in);
	return NULL;
}

/* Close fd on the helper thread (inline if there is none, or its queue is
 * full: the loop never blocks on it); holder_id: the box's name in the
 * holder namespace, unmounted there first (0: none). Loop thread only (the
 * clone numbers are its own). */
static void close_later(sbx_system *s, int fd, unsigned holder_id)
{
	if (s->closer_fd >= 0) {
		struct closer_msg m = { holder_id, s->clone_seq, s->handed_seq + 1 };
		union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
		memset(&ctl, 0, sizeof ctl);
		struct iovec iov = { &m, sizeof m };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
		ssize_t n;
		while ((n = sendmsg(s->closer_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
			;
		if (n == (ssize_t)sizeof m) {   /* sent: the message holds the file, ours is not its last reference */
			close(fd);
			__atomic_store_n(&s->handed_closed, ++s->handed_seq, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&s->closer_waiting, __ATOMIC_SEQ_CST))
				syscall(SYS_futex, &s->handed_closed, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
			return;
		}
	}
	close(fd);
}

/* A stage's init has exited or never started: nothing of it holds our
 * table (wakes the closer if init died before it said so itself). */
static void inherit_clear(sbx_system *s, unsigned slot)
{
	if (__atomic_exchange_n(&s->inherit[slot], 0, __ATOMIC_RELEASE) != 0)
		syscall(SYS_futex, &s->inherit[slot], FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void slot_root_drop(struct slot_root *t)
{
	if (t->root >= 0)
		close(t->root);
	if (t->dev >= 0)
		close(t->dev);
	stage_block *spare = t->spare;
	*t = (struct slot_root){ -1, -1, spare };
}

/* init has exited: keep its block for the slot's next stage. */
static void block_release(sbx_system *s, unsigned slot, stage_block *b)
{
	inherit_clear(s, slot);
	stage_block_free(s->roots[slot].spare);
	s->roots[slot].spare = b;
}

/* The signals this process ignores: a stage's command must not inherit
 * that. Read once (the engine sets its dispositions at start). */
static uint64_t ignored_signals(void)
{
	uint64_t mask = 0;
	/* The raw call: libc refuses to report the signals it reserves (32-34
	 * in musl), which a parent may still have left ignored. */
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ksa;
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && syscall(SYS_rt_sigaction, sig, NULL, &ksa, 8) == 0 &&
		    ksa.handler == (void *)SIG_IGN)
			mask |= 1ull << (sig - 1);
	return mask;
}

sbx_system *sbx_system_init(unsigned slots, char *err, size_t errlen)
{
	if (slots == 0)
		slots = 1;
	if (geteuid() != 0) {
		snprintf(err, errlen, "the sandbox needs root (namespaces, cgroups, uid switching)");
		return NULL;
	}
	if (cfg.runner_uid_max < cfg.runner_uid_min || cfg.runner_uid_max - cfg.runner_uid_min + 1 < slots ||
	    cfg.runner_gid_max < cfg.runner_gid_min || cfg.runner_gid_max - cfg.runner_gid_min + 1 < slots) {
		snprintf(err, errlen, "%u job slots need as many runner uids and gids (PISTON_RUNNER_UID_MIN..MAX)", slots);
		return NULL;
	}
	sbx_system *s = calloc(1, sizeof *s);
	if (!s || !(s->netns = malloc(slots * sizeof *s->netns)) || !(s->roots = malloc(slots * sizeof *s->roots)) ||
	    !(s->inherit = calloc(slots, sizeof *s->inherit))) {
		if (s) {
			free(s->netns);
			free(s->roots);
			free(s->inherit);
		}
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->slots = slots;
	s->uid_base = cfg.runner_uid_min;
	s->gid_base = cfg.runner_gid_min;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	s->ncpus = n > 0 ? (unsigned)n : 1;
	n = sysconf(_SC_CLK_TCK);
	s->clk_tck = n > 0 ? (unsigned)n : 100;
	s->tmp_size = cfg.box_size ? cfg.box_size : 64u << 20;
	snprintf(s->tmp_opts, sizeof s->tmp_opts, "size=%" PRIu64 ",nr_inodes=%u,mode=1777", s->tmp_size, BOX_INODES);
	if (seccomp_build(&s->seccomp, NULL) != 0) {
		snprintf(err, errlen, "the seccomp program came out malformed");
		free(s->netns);
		free(s->roots);
		free(s->inherit);
		free(s);
		return NULL;
	}
	for (unsigned i = 0; i < slots; i++) {
		s->netns[i] = -1;
		s->roots[i] = (struct slot_root){ -1, -1, NULL };
	}
	s->closer_fd = -1;
	s->holder_mntns = s->holder_root = -1;
	/* What has no fallback: the new mount API (5.2) and clone3 into a
	 * cgroup (5.7); every kernel from 5.10 on has both. */
	long fs = sys_fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0 && errno == ENOSYS) {
		struct utsname un;
		snprintf(err, errlen, "the sandbox needs Linux 5.10 or later (fsopen/fsmount, clone3 with "
		         "CLONE_INTO_CGROUP); this kernel is %s", uname(&un) == 0 ? un.release : "older");
		free(s->netns);
		free(s->roots);
		free(s->inherit);
		free(s);
		return NULL;
	}
	if (fs >= 0)
		close((int)fs);
	bool detached_clone = probe_kernel(s);
	const char *delay = getenv("PISTON_SANDBOX_SETUP_DELAY_MS");   /* a stalled set-up, for tests (stage.h) */
	s->setup_delay_ms = delay ? (uint32_t)strtoul(delay, NULL, 10) : 0;
	const char *no_overlay = getenv("PISTON_NO_OVERLAY");   /* to test the fallback anywhere */
	s->overlay = !(no_overlay && !strcmp(no_overlay, "1")) && probe_overlay();
	char why[200];
	if ((s->empty_mntns = empty_mntns_make(why, sizeof why, NULL, s->remount_ro)) < 0) {
		snprintf(err, errlen, "cannot create the sandbox's empty mount namespace: %s", why);
		free(s->netns);
		free(s->roots);
		free(s->inherit);
		free(s);
		return NULL;
	}
	if (!detached_clone && (s->holder_mntns = empty_mntns_make(why, sizeof why, &s->holder_root, s->remount_ro)) < 0) {
		snprintf(err, errlen, "cannot create the sandbox's holder mount namespace: %s", why);
		sbx_system_free(s);
		return NULL;
	}
	int cp[2], ready[2] = { -1, -1 };
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cp) == 0 && pipe2(ready, O_CLOEXEC) == 0) {
		/* Room for bursts (each message is a small skb): beyond it the loop
		 * closes inline rather than wait. */
		int room = 4 << 20;
		if (setsockopt(cp[1], SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof room) < 0)
			setsockopt(cp[1], SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
		struct closer_start st = { cp[0], s->holder_mntns, s->holder_root, ready[1], s->inherit, slots,
		                           &s->handed_closed, &s->closer_waiting };
		int rc = loop_thread_start(&s->closer, closer_main, &st);
		char ok = 0;
		if (rc == 0 && read(ready[0], &ok, 1) == 1 && ok) {
			s->closer_fd = cp[1];
			close(cp[0]);                  /* the thread has its own */
		} else if (rc == 0) {
			close(cp[0]);
			close(cp[1]);                  /* EOF: the thread ends */
			pthread_join(s->closer, NULL);
		} else {
			close(cp[0]);
			close(cp[1]);
		}
	}
	if (ready[0] >= 0) {
		close(ready[0]);
		close(ready[1]);
	}
	if (s->holder_mntns >= 0 && s->closer_fd < 0) {
		/* Without it every box would stay mounted in the holder namespace. */
		snprintf(err, errlen, "cannot start the sandbox's unmount thread in the holder namespace");
		sbx_system_free(s);
		return NULL;
	}
	if (cfg.disable_networking) {
		int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		for (unsigned i = 0; home >= 0 && i < slots; i++)
			if ((s->netns[i] = netns_make(home)) < 0)
				break;
		if (home < 0 || s->netns[slots - 1] < 0) {
			snprintf(err, errlen, "cannot create network namespaces: %s", strerror(errno));
			if (home >= 0)
				close(home);
			sbx_system_free(s);
			return NULL;
		}
		close(home);
	}
	s->cg = cg_system_init(slots, err, errlen);
	if (!s->cg) {
		sbx_system_free(s);
		return NULL;
	}
	const char *missing = cg_unenforced(s->cg);
	if (missing[0])
		log_warn("sandbox: cannot enforce: %s", missing);
	struct utsname un;
	if (uname(&un) < 0)
		snprintf(un.release, sizeof un.release, "unknown");
	char mem[2][24];
	for (int i = 0; i < 2; i++) {
		int64_t m = i ? cfg.compile_memory_limit : cfg.run_memory_limit;
		if (m < 0)
			snprintf(mem[i], sizeof mem[i], "none");
		else
			snprintf(mem[i], sizeof mem[i], "%" PRId64 " B", m);
	}
	log_info("sandbox: kernel %s; %s; %u slots; default limits: run %" PRIu64 " ms wall, %" PRIu64 " ms CPU, "
	         "memory %s; compile %" PRIu64 " ms wall, %" PRIu64 " ms CPU, memory %s; %" PRIu32 " processes, %" PRIu32
	         " open files, files up to %" PRIu64 " B; kernel fallbacks: %s; tests: %s", un.release,
	         cg_describe(s->cg), slots, cfg.run_timeout, cfg.run_cpu_time, mem[0], cfg.compile_timeout,
	         cfg.compile_cpu_time, mem[1], cfg.max_process_count, cfg.max_open_files, cfg.max_file_size,
	         s->fallbacks[0] ? s->fallbacks : "none",
	         s->overlay ? "each over the compiled box (overlayfs)"
	                    : "no overlayfs here: each test compiles again in its own box; no compile cache");
	/* A stage whose reader went away must not kill the engine. */
	signal(SIGPIPE, SIG_IGN);
	s->ignored_signals = ignored_signals();
	/* Last: everything above may need calls the filter gates. */
	gate_install();
	return s;
}

void sbx_system_free(sbx_system *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->netns && i < s->slots; i++)
		if (s->netns[i] >= 0)
			close(s->netns[i]);
	free(s->netns);
	for (unsigned i = 0; s->roots && i < s->slots; i++) {
		slot_root_drop(&s->roots[i]);
		stage_block_free(s->roots[i].spare);
	}
	free(s->roots);
	if (s->empty_mntns >= 0)
		close(s->empty_mntns);
	if (s->holder_mntns >= 0)
		close(s->holder_mntns);
	if (s->holder_root >= 0)
		close(s->holder_root);
	if (s->closer_fd >= 0) {
		close(s->closer_fd);          /* EOF: the thread closes what is queued and ends */
		pthread_join(s->closer, NULL);
	}
	free(s->inherit);                 /* the thread read it */
	cg_system_free(s->cg);
	free(s);
}

uid_t sbx_slot_uid(const sbx_system *s, unsigned slot) { return s->uid_base + slot; }
gid_t sbx_slot_gid(const sbx_system *s, unsigned slot) { return s->gid_base + slot; }

/* ---- boxes ---- */

sbx_box *sbx_box_create(sbx_system *s, unsigned slot, uint64_t size_bytes, char *err, size_t errlen)
{
	sbx_box *b = calloc(1, sizeof *b);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->sys = s;
	b->uid = sbx_slot_uid(s, slot);
	b->gid = sbx_slot_gid(s, slot);
	char size[32], uid[16], gid[16], inodes[16];
	snprintf(size, sizeof size, "%" PRIu64, size_bytes ? size_bytes : s->tmp_size);
	snprintf(uid, sizeof uid, "%u", (unsigned)b->uid);
	snprintf(gid, sizeof gid, "%u", (unsigned)b->gid);
	snprintf(inodes, sizeof inodes, "%u", BOX_INODES);
	int fs = (int)sys_fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0 ||
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", inodes, 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "uid", uid, 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "gid", gid, 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (b->mntfd = (int)sys_fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0) {
		snprintf(err, errlen, "cannot create the box tmpfs: %s", strerror(errno));
		if (fs >= 0)
			close(fs);
		free(b);
		return NULL;
	}
	close(fs);
	if (s->holder_mntns >= 0) {
		char name[16];
		b->holder_id = ++s->next_box_id ? s->next_box_id : ++s->next_box_id;
		snprintf(name, sizeof name, "b%u", b->holder_id);
		if (mkdirat(s->holder_root, name, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot prepare the box's place in the holder namespace: %s", strerror(errno));
			close(b->mntfd);
			free(b);
			return NULL;
		}
	}
	return b;
}

const char *sbx_box_path_problem(const char *name, size_t len, size_t max_len)
{
	if (len == 0)
		return "must not be empty";
	if (len > max_len)
		return "is too long";
	if (memchr(name, '\0', len))
		return "contains a NUL byte";
	if (name[0] == '/')
		return "must be a relative path";
	const char *p = name, *end = name + len;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = (size_t)((slash ? slash : end) - p);
		if (n == 0)
			return "has an empty path component";
		if (n > NAME_MAX)
			return "has a path component longer than 255 bytes";
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return "must not contain '.' or '..' components";
		if (!slash)
			return NULL;
		p = slash + 1;
	}
}

int sbx_box_write(sbx_box *b, const char *relpath, const void *data, size_t len, unsigned mode)
{
	if (!relpath || sbx_box_path_problem(relpath, strlen(relpath), PATH_MAX - 1)) {
		errno = EINVAL;
		return -1;
	}
	char name[PATH_MAX];
	snprintf(name, sizeof name, "%s", relpath);
	int dir = b->mntfd, saved;
	char *comp = name;
	/* Walk the directories one component at a time, never following a link. */
	for (char *slash; (slash = strchr(comp, '/')); comp = slash + 1) {
		*slash = 0;
		if (mkdirat(dir, comp, 0755) == 0) {
			int d = sys_openat2(dir, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
			if (d >= 0 && fchown(d, b->uid, b->gid) < 0) {
				close(d);
				d = -1;
			}
			if (dir != b->mntfd)
				close(dir);
			dir = d;
		} else if (errno == EEXIST) {
			int d = sys_openat2(dir, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
			if (dir != b->mntfd)
				close(dir);
			dir = d;
		} else {
			saved = errno;
			if (dir != b->mntfd)
				close(dir);
			errno = saved;
			dir = -1;
		}
		if (dir < 0)
			return -1;
	}
	/* O_NONBLOCK: a FIFO a job left under this name must not hang the engine. */
	int fd = sys_openat2(dir, comp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode & 0777);
	saved = errno;
	if (dir != b->mntfd)
		close(dir);
	if (fd < 0) {
		errno = saved;
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || ftruncate(fd, 0) < 0 ||
	    fcntl(fd, F_SETFL, 0) < 0) {
		saved = errno ? errno : EINVAL;
		close(fd);
		errno = saved;
		return -1;
	}
	int rc = fchown(fd, b->uid, b->gid) < 0 || fchmod(fd, mode & 0777) < 0 ? -1 : 0;
	for (size_t off = 0; rc == 0 && off < len; ) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int sbx_box_dirfd(const sbx_box *b)
{
	return b->mntfd;
}

void sbx_box_destroy(sbx_box *b)
{
	if (!b)
		return;
	close_later(b->sys, b->mntfd, b->holder_id);
	free(b);
}

int sbx_box_make_upper(sbx_box *b)
{
	if (mkdirat(b->mntfd, "u", 0755) < 0 || mkdirat(b->mntfd, "w", 0700) < 0)
		return -1;
	int d = sys_openat2(b->mntfd, "u", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (d < 0)
		return -1;
	int rc = fchown(d, b->uid, b->gid) < 0 || fchmod(d, 0755) < 0 ? -1 : 0;
	close(d);
	return rc;
}

int sbx_box_usage_get(const sbx_box *b, sbx_box_usage *u)
{
	struct statfs st;
	if (fstatfs(b->mntfd, &st) < 0)
		return -1;
	uint64_t bs = (uint64_t)st.f_bsize;
	u->max_bytes = (uint64_t)st.f_blocks * bs;
	u->bytes = (uint64_t)(st.f_blocks - st.f_bfree) * bs;
	u->max_inodes = (uint64_t)st.f_files;
	u->inodes = (uint64_t)(st.f_files - st.f_ffree);
	/* A page or two short of the cap counts as full: the last write failed. */
	u->full = st.f_bfree <= 2 || st.f_ffree <= 2;
	return 0;
}

void sbx_result_free(sbx_result *r)
{
	if (!r)
		return;
	buf_free(&r->out);
	buf_free(&r->err);
	buf_free(&r->output);
}

/* ---- the slot's fixed root parts ---- */

static void put_str(int fd, const char *s) { (void)!write(fd, s, strlen(s)); }

static int write_file_at(int dir, const char *name, const char *text)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (fchmod(fd, 0644) < 0) {   /* whatever the engine's umask */
		close(fd);
		return -1;
	}
	put_str(fd, text);
	close(fd);
	return 0;
}

/* A new detached tmpfs mount (mode 0755), or -1. */
static int tmpfs_detached(const char *size, const char *inodes, unsigned attrs)
{
	int fs = (int)sys_fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -1;
	int mnt = -1;
	if (sys_fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) == 0 &&
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", inodes, 0) == 0 &&
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) == 0 &&
	    sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
		mnt = (int)sys_fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	close(fs);
	return mnt;
}

/* The slot's struct slot_root, made once (engine side, on detached mounts
 * only: no path of the host is touched). NULL or the failing step. */
static const char *slot_root_make(const sbx_system *s, unsigned slot, struct slot_root *t)
{
	int root = tmpfs_detached("256k", "64", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (root < 0)
		return "create the root tmpfs";
	t->root = root;
	static const char *const dirs[] = { "usr", "pkg", "box", "tmp", "dev", "proc", "etc" };
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (mkdirat(root, dirs[i], 0755) < 0 || fchmodat(root, dirs[i], 0755, 0) < 0)
			return "populate the root";
	if (symlinkat("usr/bin", root, "bin") < 0 || symlinkat("usr/lib", root, "lib") < 0 ||
	    symlinkat("usr/lib64", root, "lib64") < 0 || symlinkat("usr/sbin", root, "sbin") < 0)
		return "link /bin, /lib, /lib64, /sbin";
	unsigned uid = sbx_slot_uid(s, slot), gid = sbx_slot_gid(s, slot);
	char text[256];
	snprintf(text, sizeof text, "root:x:0:0:root:/root:/bin/sh\nrunner:x:%u:%u:runner:/tmp:/bin/sh\n"
	         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", uid, gid);
	int etc = openat(root, "etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = etc >= 0 && write_file_at(etc, "passwd", text) == 0;
	snprintf(text, sizeof text, "root:x:0:\nrunner:x:%u:\nnogroup:x:65534:\n", gid);
	ok = ok && write_file_at(etc, "group", text) == 0 && write_file_at(etc, "hostname", "piston\n") == 0 &&
	     write_file_at(etc, "hosts", "127.0.0.1\tlocalhost piston\n::1\tlocalhost\n") == 0;
	if (etc >= 0)
		close(etc);
	if (!ok)
		return "write /etc";
	/* /dev: device nodes need a mount without nodev; the job cannot write it. */
	int dev = tmpfs_detached("64k", "64", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (dev < 0)
		return "create the /dev tmpfs";
	t->dev = dev;
	static const struct { const char *name; unsigned minor; } nodes[] = {
		{ "null", 3 }, { "zero", 5 }, { "full", 7 }, { "random", 8 }, { "urandom", 9 },
	};
	/* Modes set explicitly: the engine's umask applies to mknodat/mkdirat. */
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
		if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(1, nodes[i].minor)) < 0 ||
		    fchmodat(dev, nodes[i].name, 0666, 0) < 0)
			return "create /dev nodes";
	if (symlinkat("/proc/self/fd", dev, "fd") < 0 || symlinkat("/proc/self/fd/0", dev, "stdin") < 0 ||
	    symlinkat("/proc/self/fd/1", dev, "stdout") < 0 || symlinkat("/proc/self/fd/2", dev, "stderr") < 0 ||
	    mkdirat(dev, "shm", 01777) < 0 || fchmodat(dev, "shm", 01777, 0) < 0)
		return "populate /dev";
	/* Without mount_setattr the first stage remounts them read-only once
	 * attached in the holder namespace (stage.c). */
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	if (!s->remount_ro &&
	    (sys_mount_setattr(root, "", AT_EMPTY_PATH, &ro) < 0 || sys_mount_setattr(dev, "", AT_EMPTY_PATH, &ro) < 0))
		return "make the root read-only";
	char name[16];
	for (int i = 0; s->holder_mntns >= 0 && i < 2; i++) {
		snprintf(name, sizeof name, "%c%u", i ? 'd' : 'r', slot);
		if (mkdirat(s->holder_root, name, 0700) < 0 && errno != EEXIST)
			return "prepare the root's place in the holder namespace";
	}
	return NULL;
}

/* ---- the engine side of a stage ---- */

static void run_finish(sbx_run *r);
static void on_stdin(loop *l, int fd, unsigned ev, void *arg);

static void close_fd(sbx_run *r, int *fd)
{
	if (*fd >= 0) {
		loop_unwatch(r->l, *fd);
		close(*fd);
		*fd = -1;
	}
}

static void run_kill(sbx_run *r, enum kill_reason why)
{
	if (r->reason == KILL_NONE) {
		r->reason = why;
		/* init dies with the command: no rusage report of the peak */
		cg_slot_memory_now(r->sys->cg, r->slot, &r->memory_at_kill);
	}
	if (r->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
	if (cg_mode_of(r->sys->cg) == CG_V2)
		cg_slot_kill(r->sys->cg, r->slot);
}

/* Keep what fits under the per-stream cap; over it, kill the stage (OL). */
static void take_output(sbx_run *r, sbx_stream st, const char *data, size_t n)
{
	buf *b = st == SBX_STDOUT ? &r->res.out : &r->res.err;
	size_t keep = n;
	bool over = false;
	if (r->lim.output_max) {
		size_t room = b->len < r->lim.output_max ? (size_t)(r->lim.output_max - b->len) : 0;
		if (n > room) {
			keep = room;
			over = true;
		}
	}
	if (keep) {
		buf_append(b, data, keep);
		buf_append(&r->res.output, data, keep);
		if (r->cb.on_output)
			r->cb.on_output(r->cb.arg, st, data, keep);
	}
	if (over) {
		if (r->reason == KILL_NONE)
			r->over_stream = st;
		run_kill(r, KILL_OUTPUT);
	}
}

/* Read what is there; true at EOF (or error). */
static bool drain_stream(sbx_run *r, int fd, sbx_stream st)
{
	char chunk[65536];
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n > 0) {
			if (r->reason != KILL_OUTPUT)
				take_output(r, st, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return !(n < 0 && errno == EAGAIN);
	}
	return false;
}

static void on_stream(loop *l, int fd, unsigned ev, void *arg)
{
	sbx_run *r = arg;
	sbx_stream st = fd == r->out_fd ? SBX_STDOUT : SBX_STDERR;
	if (drain_stream(r, fd, st))
		close_fd(r, st == SBX_STDOUT ? &r->out_fd : &r->err_fd);
}

/* Interactive input waiting for the pipe is capped; beyond it writes fail. */
#define STDIN_QUEUE_MAX (1u << 20)

static void pump_stdin(sbx_run *r)
{
	for (;;) {
		const char *src = r->interactive ? r->stdin_queue.data : r->stdin_data ? r->stdin_data + r->stdin_off : NULL;  /* no NULL + 0 (UBSan) */
		size_t left = r->interactive ? r->stdin_queue.len : r->stdin_len - r->stdin_off;
		if (r->in_fd < 0 || left == 0)
			break;
		ssize_t n = write(r->in_fd, src, left > 65536 ? 65536 : left);
		if (n > 0) {
			if (r->interactive)
				buf_consume(&r->stdin_queue, (size_t)n);
			else
				r->stdin_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			loop_watch(r->l, r->in_fd, LOOP_WRITE, on_stdin, r);
			return;
		}
		buf_reset(&r->stdin_queue);
		close_fd(r, &r->in_fd);   /* EPIPE: the program does not read stdin */
		return;
	}
	if (r->in_fd >= 0 && (!r->interactive || r->stdin_close_pending))
		close_fd(r, &r->in_fd);
}

static void on_stdin(loop *l, int fd, unsigned ev, void *arg)
{
	sbx_run *r = arg;
	if (ev & LOOP_ERROR) {
		/* No reader is left (the program exited or closed its stdin):
		 * nothing queued can arrive, and the error is reported even to a
		 * muted descriptor -- kept open, it woke the loop over and over
		 * until the stage's end (an interactive stage's stdin stays open),
		 * stealing the CPU from the stage's teardown. */
		buf_reset(&r->stdin_queue);
		close_fd(r, &r->in_fd);
		return;
	}
	loop_watch(l, fd, 0, on_stdin, r);
	pump_stdin(r);
}

/* init's one message (a SEQPACKET socket: whole or nothing), with its mount
 * namespace attached when it finished normally. Holding that namespace
 * moves its teardown (unmounting the stage's tree waits for an RCU grace
 * period) from init's exit -- which the stage's end waits for -- to the
 * closer thread. */
static void read_report(sbx_run *r)
{
	if (r->rep_fd < 0)
		return;
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int) * 4)]; } ctl;
	struct iovec iov = { &r->rep, sizeof r->rep };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
	ssize_t n;
	while ((n = recvmsg(r->rep_fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	if (n > 0)
		r->rep_len = (size_t)n;
	/* init sends one SCM_RIGHTS header with one descriptor; anything
	 * beyond the first is closed. */
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(0)) {
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
			if (r->mntns_fd < 0)
				r->mntns_fd = got;
			else
				close(got);
		}
	}
	close(r->rep_fd);   /* never watched: init has exited when this runs */
	r->rep_fd = -1;
}

/* The namespace init handed over: the last reference, closed on the closer
 * thread. */
static void drop_mntns(sbx_run *r)
{
	if (r->mntns_fd >= 0)
		close_later(r->sys, r->mntns_fd, 0);
	r->mntns_fd = -1;
}

static void on_oom(loop *l, int fd, unsigned ev, void *arg)
{
	sbx_run *r = arg;
	uint64_t v;
	if (read(fd, &v, sizeof v) == sizeof v)
		run_kill(r, KILL_MEMORY);
	else
		loop_unwatch(l, fd);
}

/* The wall limit is the command's own time: it counts from its execve
 * (exec_ns, which the command writes into init's block just before). A
 * set-up the kernel stalls -- an unmount's grace period, or a killed
 * engine's namespaces torn down beside us: 3 s seen under emulation right
 * after a kill -9 -- is not the program's time. A set-up that never ends is
 * stopped SETUP_GRACE_MS after the limit. */
#define SETUP_GRACE_MS 10000u
#define SETUP_POLL_MS 10u

static void on_wall(loop *l, void *arg)
{
	sbx_run *r = arg;
	r->wall_timer = NULL;
	uint64_t now = mono_ns(), limit = r->lim.wall_ms * 1000000u;
	/* A block reused from an earlier stage holds that stage's exec_ns
	 * until init clears it: earlier than this start, so not ours. */
	uint64_t ex = __atomic_load_n(&r->block->exec_ns, __ATOMIC_ACQUIRE);
	bool started = ex >= r->start_ns;
	uint64_t due = started ? ex + limit : r->start_ns + limit + SETUP_GRACE_MS * 1000000ull;
	if (now < due) {
		uint64_t wait_ms = (due - now) / 1000000u + 1;
		if (!started && wait_ms > SETUP_POLL_MS)
			wait_ms = SETUP_POLL_MS;   /* until the command starts */
		r->wall_timer = loop_timer_add(l, wait_ms, on_wall, r);
		return;
	}
	run_kill(r, KILL_WALL);
}

/* CPU time cannot grow faster than ncpus x wall time, so the next check is
 * due no earlier than remaining / ncpus from now. */
static void on_cpu(loop *l, void *arg)
{
	sbx_run *r = arg;
	r->cpu_timer = NULL;
	uint64_t used;
	if (!cg_slot_cpu_ns(r->sys->cg, r->slot, &used))
		return;
	uint64_t limit = r->lim.cpu_ms * 1000000u;
	if (used >= limit) {
		run_kill(r, KILL_CPU);
		return;
	}
	uint64_t next = (limit - used) / r->sys->ncpus / 1000000u;
	r->cpu_timer = loop_timer_add(l, next ? next : 1, on_cpu, r);
}

/* A process's CPU time (utime + stime of /proc/PID/stat: the whole thread
 * group) in ms; false when it is gone. */
static bool process_cpu_ms(const sbx_system *s, int pid, uint64_t *ms)
{
	char path[32], b[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return false;
	b[n] = 0;
	char *p = strrchr(b, ')');   /* the command name may hold anything but this, last */
	if (!p)
		return false;
	/* after the name: state (3) ... utime (14), stime (15) */
	unsigned long long f[13] = {0};
	int got = 0;
	for (p++; got < 13 && *p; got++) {
		while (*p == ' ')
			p++;
		char *end;
		f[got] = strtoull(p, &end, 10);
		if (end == p)   /* the state letter */
			end = p + 1;
		p = end;
	}
	if (got < 13)
		return false;
	*ms = (f[11] + f[12]) * 1000u / s->clk_tck;
	return true;
}

/* The per-process CPU limit, polled (isolate polls its box every 100 ms):
 * RLIMIT_CPU counts whole seconds and stops only the one process -- a
 * child it stopped would leave the job running on, and Accepted. Here
 * the whole stage is killed, as at its own limit. */
static unsigned process_cpu_poll_ms(const sbx_run *r)
{
	uint64_t every = r->lim.cpu_ms_per_process / 10;
	return every < 10 ? 10 : every > 100 ? 100 : (unsigned)every;
}

/* The command's RLIMIT_CPU in whole seconds (soft; the hard one, SIGKILL,
 * one more), 0 for none: a backstop for the stage's CPU limit, whose real
 * check is the cgroup counter, and for the per-process one, whose real
 * check is the poll -- unless there are no cgroups (no poll either): then
 * it is that limit itself, rounded up. Else it allows the poll's lag
 * first, so that the poll, which kills the stage, sees the process. */
static uint64_t rlimit_cpu_secs(const sbx_system *s, const sbx_limits *lim)
{
	uint64_t ms = lim->cpu_ms;
	uint64_t each = lim->cpu_ms_per_process;
	if (each && cg_mode_of(s->cg) != CG_NONE)
		each += 250;
	if (each && (!ms || each < ms))
		ms = each;
	return (ms + 999) / 1000;
}

static void on_process_cpu(loop *l, void *arg)
{
	sbx_run *r = arg;
	r->process_cpu_timer = NULL;
	int pids[256];
	size_t n = cg_slot_pids(r->sys->cg, r->slot, pids, sizeof pids / sizeof pids[0]);
	for (size_t i = 0; i < n; i++) {
		uint64_t ms;
		if (!process_cpu_ms(r->sys, pids[i], &ms))
			continue;
		if (ms > r->res.max_process_cpu_ms)
			r->res.max_process_cpu_ms = ms;
		if (ms >= r->lim.cpu_ms_per_process) {
			run_kill(r, KILL_PROCESS_CPU);
			return;
		}
	}
	r->process_cpu_timer = loop_timer_add(l, process_cpu_poll_ms(r), on_process_cpu, r);
}

static void on_exit_pidfd(loop *l, int fd, unsigned ev, void *arg)
{
	sbx_run *r = arg;
	siginfo_t si = {0};
	long rc = syscall(SYS_waitid, P_PIDFD, r->pidfd, &si, WEXITED | WNOHANG | __WALL, NULL);
	if (rc == 0 && si.si_pid == 0 && !(ev & LOOP_ERROR))
		return;                   /* not yet */
	run_finish(r);                    /* reaped (by us or, ECHILD, by someone else) */
}

static const char *const signal_names[65] = {
	[1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [5] = "SIGTRAP",
	[6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [10] = "SIGUSR1",
	[11] = "SIGSEGV", [12] = "SIGUSR2", [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM",
	[16] = "SIGSTKFLT", [17] = "SIGCHLD", [18] = "SIGCONT", [19] = "SIGSTOP", [20] = "SIGTSTP",
	[21] = "SIGTTIN", [22] = "SIGTTOU", [23] = "SIGURG", [24] = "SIGXCPU", [25] = "SIGXFSZ",
	[26] = "SIGVTALRM", [27] = "SIGPROF", [28] = "SIGWINCH", [29] = "SIGIO", [30] = "SIGPWR",
	[31] = "SIGSYS", [34] = "SIGRTMIN", [35] = "SIGRTMIN+1", [36] = "SIGRTMIN+2",
	[37] = "SIGRTMIN+3", [38] = "SIGRTMIN+4", [39] = "SIGRTMIN+5", [40] = "SIGRTMIN+6",
	[41] = "SIGRTMIN+7", [42] = "SIGRTMIN+8", [43] = "SIGRTMIN+9", [44] = "SIGRTMIN+10",
	[45] = "SIGRTMIN+11", [46] = "SIGRTMIN+12", [47] = "SIGRTMIN+13", [48] = "SIGRTMIN+14",
	[49] = "SIGRTMIN+15", [50] = "SIGRTMAX-14", [51] = "SIGRTMAX-13", [52] = "SIGRTMAX-12",
	[53] = "SIGRTMAX-11", [54] = "SIGRTMAX-10", [55] = "SIGRTMAX-9", [56] = "SIGRTMAX-8",
	[57] = "SIGRTMAX-7", [58] = "SIGRTMAX-6", [59] = "SIGRTMAX-5", [60] = "SIGRTMAX-4",
	[61] = "SIGRTMAX-3", [62] = "SIGRTMAX-2", [63] = "SIGRTMAX-1", [64] = "SIGRTMAX",
};

const char *sbx_signal_name(int signo)
{
	return signo > 0 && signo < 65 ? signal_names[signo] : NULL;
}

int sbx_signal_number(const char *name)
{
	if (!name)
		return 0;
	for (int i = 1; i < 65; i++)
		if (signal_names[i] && !strcmp(signal_names[i], name))
			return i;
	return 0;
}

static const char *signal_name(int sig)
{
	const char *name = sbx_signal_name(sig);
	return name ? name : "SIGUNKNOWN";
}

void sbx_result_write_json(jw *w, const sbx_result *r)
{
	jw_object_begin(w);
	sbx_result_write_fields(w, r);
	jw_object_end(w);
}

void sbx_result_write_fields(jw *w, const sbx_result *r)
{
	jw_key(w, "stdout");
	jw_string_n(w, r->out.data ? r->out.data : "", r->out.len);
	jw_key(w, "stderr");
	jw_string_n(w, r->err.data ? r->err.data : "", r->err.len);
	jw_key(w, "output");
	jw_string_n(w, r->output.data ? r->output.data : "", r->output.len);
	jw_key(w, "code");
	if (r->exited)
		jw_int(w, r->code);
	else
		jw_null(w);
	jw_key(w, "signal");
	const char *sig = sbx_signal_name(r->signal);
	if (!r->exited && sig)
		jw_string(w, sig);
	else
		jw_null(w);
	jw_key(w, "message");
	if (r->message[0])
		jw_string(w, r->message);
	else
		jw_null(w);
	jw_key(w, "status");
	if (r->status[0])
		jw_string(w, r->status);
	else
		jw_null(w);
	jw_key(w, "memory");
	jw_uint(w, r->memory);
	jw_key(w, "cpu_time");
	jw_uint(w, r->cpu_ms);
	jw_key(w, "wall_time");
	jw_uint(w, r->wall_ms);
}

static void set_status(sbx_result *res, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_status(sbx_result *res, const char *status, const char *fmt, ...)
{
	snprintf(res->status, sizeof res->status, "%s", status);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
}

/* sbx_result's setup/run/teardown from init's two timestamps (stage.h). */
static void latency_split(sbx_run *r, bool have_report)
{
	uint64_t done = mono_ns(), ex = r->rep.exec_ns, end = r->rep.exit_ns;
	sbx_result *res = &r->res;
	if (!have_report || !ex || ex < r->enter_ns || end < ex || done < end) {
		res->run_us = (done - r->enter_ns) / 1000u;
		return;
	}
	res->setup_us = (ex - r->enter_ns) / 1000u;
	res->run_us = (end - ex) / 1000u;
	res->teardown_us = (done - end) / 1000u;
}

/* Init is gone, so is every process of the stage: collect and report. */
static void run_finish(sbx_run *r)
{
	uint64_t end = mono_ns();
	sbx_result *res = &r->res;
	close_fd(r, &r->pidfd);
	/* Everything that could write the pipes is dead: read them to EOF. */
	read_report(r);
	for (int guard = 0; r->out_fd >= 0 && guard < 1024 && !drain_stream(r, r->out_fd, SBX_STDOUT); guard++)
		;
	for (int guard = 0; r->err_fd >= 0 && guard < 1024 && !drain_stream(r, r->err_fd, SBX_STDERR); guard++)
		;
	close_fd(r, &r->out_fd);
	close_fd(r, &r->err_fd);
	close_fd(r, &r->in_fd);
	close_fd(r, &r->ctl_fd);
	buf_free(&r->stdin_queue);
	if (r->oom_fd >= 0) {
		loop_unwatch(r->l, r->oom_fd);
		r->oom_fd = -1;    /* owned by the cgroup slot */
	}
	if (r->wall_timer)
		loop_timer_cancel(r->l, r->wall_timer);
	if (r->cpu_timer)
		loop_timer_cancel(r->l, r->cpu_timer);
	if (r->process_cpu_timer)
		loop_timer_cancel(r->l, r->process_cpu_timer);
	r->wall_timer = r->cpu_timer = r->process_cpu_timer = NULL;
	for (int i = 0; i < 100 && !cg_slot_kill(r->sys->cg, r->slot); i++)
		usleep(1000);

	cg_usage u;
	cg_slot_usage(r->sys->cg, r->slot, &u);
	bool have_report = r->rep_len == sizeof r->rep;
	/* The command's wall time, as its limit counts it (on_wall): from its
	 * execve (the block's word: init killed at the limit reports nothing),
	 * from the clone when it never started. */
	uint64_t ex = __atomic_load_n(&r->block->exec_ns, __ATOMIC_ACQUIRE);
	uint64_t from = ex >= r->start_ns && ex <= end ? ex : r->start_ns;
	res->wall_ms = (end - from) / 1000000u;
	res->cpu_ms = u.have_cpu ? u.cpu_ns / 1000000u : have_report ? r->rep.cpu_us / 1000u : 0;
	res->memory = u.have_memory ? u.peak_bytes : have_report ? r->rep.maxrss_kb * 1024u : 0;
	if (!u.have_memory && res->memory < r->memory_at_kill)
		res->memory = r->memory_at_kill;
	if (have_report && r->rep.kind == STAGE_REPORT_STATUS) {
		int st = r->rep.value;
		if (WIFEXITED(st)) {
			res->exited = true;
			res->code = WEXITSTATUS(st);
		} else if (WIFSIGNALED(st)) {
			res->signal = WTERMSIG(st);
		}
	} else if (!have_report || r->reason != KILL_NONE) {
		res->signal = SIGKILL;     /* init (and so the command) was killed */
	}
	if (u.oom_killed && r->reason == KILL_NONE)
		r->reason = KILL_MEMORY;
	if (r->lim.cpu_ms && res->cpu_ms >= r->lim.cpu_ms && r->reason == KILL_NONE && res->signal)
		r->reason = KILL_CPU;      /* RLIMIT_CPU backstop or a kill right at the limit */
	if (res->signal == SIGXCPU && r->reason == KILL_NONE)
		r->reason = r->lim.cpu_ms_per_process ? KILL_PROCESS_CPU : KILL_CPU;
	/* A command that ignored SIGXCPU dies of RLIMIT_CPU's hard limit: a
	 * SIGKILL after its soft one (the kernel's check and wait4's figure
	 * differ by a few ms, so not the hard one). One that kills itself after
	 * waiting for children that used as much is counted too: wait4 adds
	 * their time to its own. */
	if (r->lim.cpu_ms_per_process && res->signal == SIGKILL && r->reason == KILL_NONE && have_report &&
	    r->rep.cmd_cpu_us >= rlimit_cpu_secs(r->sys, &r->lim) * 1000000u)
		r->reason = KILL_PROCESS_CPU;

	switch (r->reason) {
	case KILL_OUTPUT:
		set_status(res, "OL", "%s output limit exceeded (%" PRIu64 " bytes)",
		           r->over_stream == SBX_STDERR ? "stderr" : "stdout", r->lim.output_max);
		break;
	case KILL_WALL:
		set_status(res, "TO", "Time limit exceeded: wall time over %" PRIu64 " ms", r->lim.wall_ms);
		break;
	case KILL_CPU:
		set_status(res, "TO", "Time limit exceeded: CPU time over %" PRIu64 " ms", r->lim.cpu_ms);
		break;
	case KILL_PROCESS_CPU:
		set_status(res, "TO", "Time limit exceeded: a process's CPU time over %" PRIu64 " ms",
		           r->lim.cpu_ms_per_process);
		break;
	case KILL_MEMORY:
		set_status(res, "EL", "Memory limit exceeded (%" PRId64 " bytes)", r->lim.memory_bytes);
		break;
	case KILL_INTERNAL:
		set_status(res, "XX", "%s", r->internal);
		break;
	case KILL_NONE:
		if (have_report && r->rep.kind == STAGE_REPORT_SETUP_FAILED)
			set_status(res, "XX", "sandbox setup failed: %s: %s", r->rep.what, strerror(r->rep.value));
		else if (have_report && r->rep.kind == STAGE_REPORT_EXEC_FAILED)
			set_status(res, "XX", "cannot start the program: %s: %s", r->rep.what, strerror(r->rep.value));
		else if (!have_report)
			set_status(res, "XX", "the sandbox's init died unexpectedly");
		else if (res->signal == SIGXFSZ)
			set_status(res, "EL", "File size limit exceeded (%" PRIu64 " bytes)", r->lim.max_file_size);
		else if (res->signal)
			set_status(res, "SG", "Process killed by signal %s", signal_name(res->signal));
		else if (res->code)
			set_status(res, "RE", "Process exited with code %d", res->code);
		break;
	}
	if (res->status[0] == 'X') {
		res->exited = false;
		res->code = 0;
	}
	/* Limits that were not what the request asked for, said in the answer. */
	char note[128] = "";
	if (u.pids_refused && r->lim.max_procs)
		snprintf(note, sizeof note, "the process limit (%" PRIu32 ", cgroup pids.max) refused %" PRIu64 " forks",
		         r->lim.max_procs, u.pids_refused);
	else if (r->lim.memory_bytes >= 0 && !cg_enforces_memory(r->sys->cg))
		snprintf(note, sizeof note, "the memory limit was per process only (RLIMIT_DATA): no memory cgroup");
	if (note[0]) {
		size_t at = strlen(res->message);
		snprintf(res->message + at, sizeof res->message - at, "%s%s%s", at ? " (" : "", note, at ? ")" : "");
	}
	if (buf_failed(&res->out) || buf_failed(&res->err) || buf_failed(&res->output))
		set_status(res, "XX", "out of memory while capturing output");
	latency_split(r, have_report);
	sbx_callbacks cb = r->cb;
	sbx_result out = *res;
	memset(res, 0, sizeof *res);
	block_release(r->sys, r->slot, r->block);   /* init has exited: the pidfd said so */
	drop_mntns(r);
	free(r);
	cb.on_done(cb.arg, &out);
}

static void run_free_fds(sbx_run *r)
{
	int *fds[] = { &r->pidfd, &r->in_fd, &r->out_fd, &r->err_fd, &r->rep_fd, &r->ctl_fd };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		close_fd(r, fds[i]);
	if (r->oom_fd >= 0)
		loop_unwatch(r->l, r->oom_fd);
	r->oom_fd = -1;
}

sbx_run *sbx_start(sbx_system *s, loop *l, const sbx_spec *spec, const sbx_callbacks *cb,
                   char *err, size_t errlen)
{
	if (spec->slot >= s->slots || !spec->argv || !spec->argv[0] || !spec->pkg_dir || !cb || !cb->on_done) {
		snprintf(err, errlen, "bad sandbox request");
		return NULL;
	}
	uint64_t enter = mono_ns();
	sbx_run *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->enter_ns = enter;
	r->sys = s;
	r->l = l;
	r->slot = spec->slot;
	r->lim = spec->limits;
	r->cb = *cb;
	r->stdin_data = spec->stdin_data;
	r->stdin_len = spec->stdin_data ? spec->stdin_len : 0;
	r->interactive = spec->interactive;
	r->pidfd = r->in_fd = r->out_fd = r->err_fd = r->rep_fd = r->ctl_fd = r->oom_fd = r->mntns_fd = -1;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 }, rep[2] = { -1, -1 }, ctl[2] = { -1, -1 };
	struct slot_root *tmpl = &s->roots[spec->slot];
	if (tmpl->dev < 0) {
		const char *failed = slot_root_make(s, spec->slot, tmpl);
		if (failed) {
			snprintf(err, errlen, "cannot prepare the sandbox root (%s): %s", failed, strerror(errno));
			slot_root_drop(tmpl);
			free(r);
			return NULL;
		}
	}
	if (cg_slot_prepare(s->cg, spec->slot, spec->limits.memory_bytes, spec->limits.max_procs) < 0) {
		snprintf(err, errlen, "cannot set the cgroup limits: %s", strerror(errno));
		free(r);
		return NULL;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) < 0 ||
	    (spec->interactive && pipe2(ctl, O_CLOEXEC) < 0)) {
		snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
		goto fail;
	}
	/* The job's ends belong to its uid: programs reopen them by path (/dev/stdin, `echo x >
	 * /dev/stderr`, open("/proc/self/fd/1")), which checks the pipe's owner like a file's. A job
	 * reopening its own pipe reaches only its own stdin or output. */
	uid_t job_uid = sbx_slot_uid(s, spec->slot);
	gid_t job_gid = sbx_slot_gid(s, spec->slot);
	if (fchown(in[0], job_uid, job_gid) < 0 || fchown(out[1], job_uid, job_gid) < 0 ||
	    fchown(er[1], job_uid, job_gid) < 0) {
		snprintf(err, errlen, "cannot give the job its pipes: %s", strerror(errno));
		goto fail;
	}
	stage_block *b = stage_block_new(tmpl->spare, spec->argv, spec->envp, spec->pkg_dir, s->tmp_opts);
	tmpl->spare = NULL;
	if (!b) {
		snprintf(err, errlen, "cannot map the stage's block: %s", strerror(errno));
		goto fail;
	}
	b->in_r = in[0];
	b->out_w = out[1];
	b->err_w = er[1];
	b->rep_w = rep[1];
	b->ctl_r = ctl[0];
	b->netns = s->netns[spec->slot];
	b->empty_mntns = s->empty_mntns;
	b->root_tmpl = tmpl->root;
	b->dev_tmpl = tmpl->dev;
	b->box_mnt = spec->box ? spec->box->mntfd : -1;
	b->lower_mnt = spec->lower && spec->box ? spec->lower->mntfd : -1;
	b->holder_mntns = s->holder_mntns;
	b->holder_root = s->holder_root;
	b->remount_ro = s->remount_ro;
	b->setup_delay_ms = s->setup_delay_ms;
	if (s->holder_mntns >= 0) {
		snprintf(b->root_name, sizeof b->root_name, "r%u", spec->slot);
		snprintf(b->dev_name, sizeof b->dev_name, "d%u", spec->slot);
		if (spec->box)
			snprintf(b->box_name, sizeof b->box_name, "b%u", spec->box->holder_id);
		if (spec->lower && spec->box)
			snprintf(b->lower_name, sizeof b->lower_name, "b%u", spec->lower->holder_id);
	}
	b->ncg = cg_slot_procs_fds(s->cg, spec->slot, b->cg_procs);
	b->cg_into = cg_slot_dirfd(s->cg, spec->slot);
	b->uid = job_uid;
	b->gid = job_gid;
	b->ignored_signals = s->ignored_signals;
	b->max_procs = spec->limits.max_procs;
	/* pids.max (all the stage's tasks) is the limit where there is one, and
	 * trips first: then pids.events says it did (the job's message). */
	b->nproc_limit = spec->limits.max_procs && cg_enforces_pids(s->cg) ? spec->limits.max_procs + 1
	                                                                   : spec->limits.max_procs;
	b->max_data = spec->limits.memory_bytes >= 0 && !cg_enforces_memory(s->cg) ? (uint64_t)spec->limits.memory_bytes : 0;
	b->max_open_files = spec->limits.max_open_files;
	b->max_file_size = spec->limits.max_file_size;
	b->max_stack = spec->limits.max_stack;
	b->cpu_secs = rlimit_cpu_secs(s, &spec->limits);
	b->max_as = spec->limits.memory_per_process;
	b->gate_key = gate.key;
	b->filter_inherited = gate_inherited();
	b->seccomp = (struct sock_fprog){ .len = s->seccomp.len, .filter = s->seccomp.insns };
	/* init shares our memory and runs beside us (stage.h): no exec, no copy. */
	struct clone_args ca = {
		.flags = CLONE_VM | CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_CLEAR_SIGHAND,
		.stack = (uint64_t)(uintptr_t)b->init_stack,
		.stack_size = b->init_stack_size,
		.pidfd = (uint64_t)(uintptr_t)&r->pidfd,
		/* No SIGCHLD: the engine's own child handling (waitpid without
		 * __WALL) never sees, or reaps, a stage; the pidfd tells us. */
		.exit_signal = 0,
	};
	/* init's copy of our table is counted until it drops it (the closer
	 * waits for that before closing what left the table since). */
	if (++s->clone_seq == 0)
		s->clone_seq = 1;
	__atomic_store_n(&s->inherit[spec->slot], s->clone_seq, __ATOMIC_RELEASE);
	b->inherit_word = &s->inherit[spec->slot];
	r->start_ns = mono_ns();
	long pid = stage_clone3(&ca, sizeof ca, stage_init_main, b, b->gate_key);
	if (pid < 0) {
		block_release(s, spec->slot, b);
		errno = (int)-pid;
		snprintf(err, errlen, "cannot start the sandbox (clone3): %s", strerror(errno));
		goto fail;
	}
	r->block = b;
	r->pid = (pid_t)pid;
	close(in[0]);
	close(out[1]);
	close(er[1]);
	close(rep[1]);
	if (ctl[0] >= 0)
		close(ctl[0]);
	r->in_fd = in[1];
	r->out_fd = out[0];
	r->err_fd = er[0];
	r->rep_fd = rep[0];
	r->ctl_fd = ctl[1];
	int fds[] = { r->in_fd, r->out_fd, r->err_fd, r->rep_fd, r->ctl_fd };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			fcntl(fds[i], F_SETFL, O_NONBLOCK);
	loop_watch(l, r->out_fd, LOOP_READ, on_stream, r);
	loop_watch(l, r->err_fd, LOOP_READ, on_stream, r);
	/* The report is not watched: init sends it just before it exits, and
	 * run_finish reads it -- one wake-up of the loop fewer per stage. */
	loop_watch(l, r->pidfd, LOOP_READ, on_exit_pidfd, r);
	loop_watch(l, r->in_fd, 0, on_stdin, r);
	r->oom_fd = cg_slot_oom_eventfd(s->cg, spec->slot);
	if (r->oom_fd >= 0)
		loop_watch(l, r->oom_fd, LOOP_READ, on_oom, r);
	/* Timers count from the loop's cached clock, which may lag behind the
	 * moment the stage started: add the lag so the limit is never cut short. */
	uint64_t lag_ms = (r->start_ns / 1000000u > loop_now(l) ? r->start_ns / 1000000u - loop_now(l) : 0) + 1;
	if (r->lim.wall_ms)
		r->wall_timer = loop_timer_add(l, r->lim.wall_ms + lag_ms, on_wall, r);
	uint64_t dummy;
	if (r->lim.cpu_ms && cg_slot_cpu_ns(s->cg, spec->slot, &dummy)) {
		uint64_t first = r->lim.cpu_ms / s->ncpus;
		r->cpu_timer = loop_timer_add(l, (first ? first : 1) + lag_ms, on_cpu, r);
	}
	/* From the start, not from limit / ncpus: the most one process used
	 * counts too (Judge0's extra time: over cpu_time_limit is TLE). */
	if (r->lim.cpu_ms_per_process && cg_mode_of(s->cg) != CG_NONE)
		r->process_cpu_timer = loop_timer_add(l, process_cpu_poll_ms(r) + lag_ms, on_process_cpu, r);
	pump_stdin(r);
	return r;
fail:;
	int all[] = { in[0], in[1], out[0], out[1], er[0], er[1], rep[0], rep[1], ctl[0], ctl[1] };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i] >= 0)
			close(all[i]);
	free(r);
	return NULL;
}

int sbx_write_stdin(sbx_run *r, const void *data, size_t n)
{
	if (!r->interactive || r->in_fd < 0 || r->stdin_close_pending) {
		errno = EPIPE;
		return -1;
	}
	if (r->stdin_queue.len + n > STDIN_QUEUE_MAX) {
		errno = ENOBUFS;
		return -1;
	}
	buf_append(&r->stdin_queue, data, n);
	if (buf_failed(&r->stdin_queue)) {
		errno = ENOMEM;
		return -1;
	}
	if (r->stdin_queue.len == n)   /* nothing was waiting: try the pipe now */
		pump_stdin(r);
	return 0;
}

void sbx_close_stdin(sbx_run *r)
{
	r->stdin_close_pending = true;
	if (r->stdin_queue.len == 0)
		close_fd(r, &r->in_fd);
}

int sbx_signal(sbx_run *r, int signo)
{
	unsigned char b = (unsigned char)signo;
	if (r->ctl_fd < 0 || signo <= 0 || signo >= 65) {
		errno = EINVAL;
		return -1;
	}
	return write(r->ctl_fd, &b, 1) == 1 ? 0 : -1;
}

void sbx_cancel(sbx_run *r)
{
	if (!r)
		return;
	run_kill(r, KILL_INTERNAL);
	if (r->pidfd >= 0) {
		siginfo_t si;
		while (syscall(SYS_waitid, P_PIDFD, r->pidfd, &si, WEXITED | __WALL, NULL) < 0 && errno == EINTR)
			;
	}
	/* init is gone (or was never started without a pidfd): its memory is free. */
	block_release(r->sys, r->slot, r->block);
	for (int i = 0; i < 100 && !cg_slot_kill(r->sys->cg, r->slot); i++)
		usleep(1000);
	if (r->wall_timer)
		loop_timer_cancel(r->l, r->wall_timer);
	if (r->cpu_timer)
		loop_timer_cancel(r->l, r->cpu_timer);
	if (r->process_cpu_timer)
		loop_timer_cancel(r->l, r->process_cpu_timer);
	run_free_fds(r);
	drop_mntns(r);
	buf_free(&r->stdin_queue);
	sbx_result_free(&r->res);
	free(r);
}
