/*
 * stage: the sandbox's code on the far side of clone3 -- a stage's PID 1
 * (our init) and its command's last steps before exec.
 *
 * init is a clone of the engine that shares its address space (CLONE_VM)
 * and never execs: no address space to build, fault in and tear down per
 * stage (on paravirtualised hosts that costs over a millisecond). The engine
 * keeps running beside it, so this code promises:
 * - raw system calls only (rawsys.h): it touches no errno, no libc state,
 *   no lock, and allocates nothing;
 * - it reads only its stage_block (filled by the engine before the clone,
 *   never changed or freed until init has exited: the stage's pidfd said
 *   so) and writes only the two stacks inside it, exec_ns and the word
 *   inherit_word points at;
 * - it closes its copy of the engine's descriptor table early in its set-up
 *   and then says so (inherit_word): the engine's closer thread waits for
 *   that, so a descriptor the engine drops is never last closed here (an
 *   unmount's grace period would stall this stage's set-up);
 * - it never returns: it execs the command or exits.
 * init stays outside the slot's cgroups: only the command and its
 * descendants are in them. (A memory-cgroup OOM kill of a process kills
 * every process sharing its memory: were init in the job's cgroup, the
 * engine could die with it.)
 * The command itself runs in its own address space (it execs at once), as
 * the slot's uid, with no_new_privs and the seccomp filter; init is root and
 * hidden from it (/proc is mounted hidepid=2), so nothing of the job can
 * read or trace the engine's memory through init.
 */
#ifndef PISTON_STAGE_H
#define PISTON_STAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>
#include <linux/sched.h>

/* What init tells the engine, once, just before it exits. */
enum { STAGE_REPORT_STATUS = 1, STAGE_REPORT_SETUP_FAILED = 2, STAGE_REPORT_EXEC_FAILED = 3 };
typedef struct stage_report {
	int32_t kind;
	int32_t value;            /* wait status, or errno */
	uint64_t cpu_us;          /* all reaped processes (fallback accounting) */
	uint64_t cmd_cpu_us;      /* the command's own (wait4: with the children it waited for) */
	uint64_t maxrss_kb;
	/* CLOCK_MONOTONIC ns: the command's execve and its reaping by init --
	 * where the stage's set-up ends and its teardown begins (the engine's
	 * latency split, stats.h). */
	uint64_t exec_ns, exit_ns;
	char what[96];            /* the failing step */
} stage_report;

typedef struct stage_block {
	/* Descriptors, numbered as in the engine's table at the clone (init has
	 * a copy of that table). -1 = none. */
	int in_r, out_w, err_w, rep_w, ctl_r;
	int netns, empty_mntns, root_tmpl, dev_tmpl, box_mnt;
	/* >= 0: /box is an overlay, this (the compiled box) its read-only lower
	 * layer and box_mnt's u/ and w/ its upper and work directories. Overlay
	 * takes its layers by path (before 6.15 only from the caller's own mount
	 * namespace), so init mounts it inside the stage's namespace. */
	int lower_mnt;
	/* Kernels before 6.15 refuse to clone a detached mount (open_tree of an
	 * fsmount() fd: EINVAL). There the templates and the box are attached,
	 * on their first stage, under these names in the holder mount namespace
	 * (-1: clone the detached mounts directly), and cloned from there. */
	int holder_mntns, holder_root;   /* the namespace, and its root directory (names are below it) */
	char root_name[16], dev_name[16], box_name[16], lower_name[16];
	/* Kernels before 5.12 have no mount_setattr: read-only (nosuid, nodev)
	 * by a classic bind remount instead. */
	int remount_ro;
	/* PISTON_SANDBOX_SETUP_DELAY_MS: init sleeps this long at the end of
	 * its set-up -- a kernel's stall, made on purpose, for the tests of the
	 * wall limit (which counts from the command's execve). 0: none. */
	uint32_t setup_delay_ms;
	int cg_procs[3], ncg;      /* v1: cgroup.procs files the command joins */
	int cg_into;               /* v2: the slot's cgroup directory (CLONE_INTO_CGROUP), or -1 */
	uid_t uid;
	gid_t gid;
	uint64_t ignored_signals;  /* bit n-1: signal n is ignored by the engine (reset to default) */
	uint32_t max_procs, max_open_files;
	uint64_t max_file_size;
	uint64_t max_stack;        /* RLIMIT_STACK (0: inherited; ~0: RLIM_INFINITY) */
	uint64_t max_data;         /* RLIMIT_DATA, where no memory cgroup limits the stage (0: none) */
	uint64_t max_as;           /* RLIMIT_AS: sbx_limits.memory_per_process (0: none) */
	uint64_t cpu_secs;         /* RLIMIT_CPU soft, whole seconds; hard one more (0: none) */
	uint32_t nproc_limit;      /* RLIMIT_NPROC (0: none): max_procs, one more where pids.max is the limit */
	uint64_t gate_key;         /* the seccomp gate's key: the sixth argument of gated calls */
	int filter_inherited;      /* 1: the engine's filter comes with the clone; 0: install seccomp below */
	struct sock_fprog seccomp; /* points at the engine's built program */
	const char *usr_path, *pkg_path, *tmp_opts;
	char **argv, **envp;
	/* Private to init: */
	char *init_stack, *cmd_stack;
	size_t init_stack_size, cmd_stack_size;
	int exec_w;                /* the command's exec-failure pipe */
	size_t map_size;
	uint64_t cpus[16];         /* init's CPU set (up to 1024 CPUs), restored for the command */
	int pinned;
	uint64_t exec_ns;          /* the command's clock just before its execve (stage_report; the
	                            * engine's wall limit counts from it) */
	/* The engine's word for this slot (sandbox.c, sbx_system.inherit): init
	 * sets it to 0 and wakes its futex once the engine's table is closed. */
	uint32_t *inherit_word;
} stage_block;

/* A block (one private mapping) holding copies of argv, envp, the package's
 * path strings and the /tmp options, with both stacks; the caller fills in
 * the remaining fields. reuse (or NULL): a block of an exited init, reused
 * when big enough, else freed -- unmapping memory shared with running inits
 * costs a TLB shootdown on every CPU. NULL with errno on failure (reuse is
 * freed then). */
stage_block *stage_block_new(stage_block *reuse, const char *const *argv, const char *const *envp,
                             const char *pkg_dir, const char *tmp_opts);
/* Only once init has exited (its pidfd is readable or it was waited for). */
void stage_block_free(stage_block *b);

/* clone3 that runs fn(arg) in the child, on the stack given in ca, and
 * returns in the parent like the system call (pid, or -errno). fn must not
 * return. gate_key: the seccomp gate's key, passed as the sixth argument. */
long stage_clone3(struct clone_args *ca, size_t size, void (*fn)(void *), void *arg, uint64_t gate_key);

/* init's entry: pass to stage_clone3 with the block as arg. */
void stage_init_main(void *block);

#endif
