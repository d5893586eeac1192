/*
 * cgroup: per-slot control groups for the sandbox -- limits (memory, pids)
 * and accounting (CPU time, peak memory, OOM kills) on cgroup v1 or v2,
 * detected at start. One cgroup per job slot, made once and reused, so a
 * stage costs a few small file writes instead of mkdir/rmdir.
 *
 * Layout: v1 <hierarchy>/<engine's cgroup>/piston-<pid>/slot<N> in each of
 * the memory, pids and cpuacct hierarchies; v2 <engine's cgroup or a sibling
 * leaf>/piston-<pid>/slot<N> with memory, pids and cpu enabled. Directories
 * of engines that are no longer running are emptied (SIGKILL) and removed at
 * start; cg_system_free removes this engine's.
 *
 * With no usable hierarchy the mode is CG_NONE and every call is a no-op;
 * cg_unenforced names the limits nobody enforces.
 */
#ifndef PISTON_CGROUP_H
#define PISTON_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CG_NONE, CG_V1, CG_V2 } cg_mode;

typedef struct cg_system cg_system;

typedef struct cg_usage {
	uint64_t cpu_ns;       /* CPU time since cg_slot_prepare */
	uint64_t peak_bytes;   /* peak memory since cg_slot_prepare (0: unknown) */
	bool oom_killed;       /* the memory limit killed a process */
	uint64_t pids_refused; /* forks pids.max refused since cg_slot_prepare */
	bool have_cpu, have_memory;
} cg_usage;

cg_system *cg_system_init(unsigned slots, char *err, size_t errlen);
void cg_system_free(cg_system *c);
cg_mode cg_mode_of(const cg_system *c);
/* One line for the start log: the cgroup version, where the engine's
 * cgroups are and the limits they enforce. */
const char *cg_describe(const cg_system *c);
/* Whether a memory limit / a process limit is a cgroup's (for the whole
 * stage), or left to per-process rlimits. */
bool cg_enforces_memory(const cg_system *c);
bool cg_enforces_pids(const cg_system *c);
/* "" when everything is enforced, else e.g. "memory, CPU time accounting". */
const char *cg_unenforced(const cg_system *c);

/* Before a stage: set the limits (memory_bytes -1 / max_procs 0 = none) and
 * reset the counters. 0, or -1 with errno. */
int cg_slot_prepare(cg_system *c, unsigned slot, int64_t memory_bytes, uint32_t max_procs);
/* v2: the directory fd for clone3 CLONE_INTO_CGROUP (the stage's command
 * is cloned into it); -1 otherwise. */
int cg_slot_dirfd(const cg_system *c, unsigned slot);
/* v1: the slot's join files (at most 3, into out) a stage's command writes
 * "0" to, to join the slot itself; the count (0 unless v1). They are the
 * "tasks" files: a single thread moving itself skips the global lock whose
 * write side waits for an RCU grace period after an idle spell. */
int cg_slot_procs_fds(const cg_system *c, unsigned slot, int out[3]);
/* v1: an eventfd that becomes readable when the slot hits an OOM (drain it
 * with read); -1 when unavailable. */
int cg_slot_oom_eventfd(const cg_system *c, unsigned slot);
/* CPU time used so far in this stage (ns); false if not measurable. */
bool cg_slot_cpu_ns(const cg_system *c, unsigned slot, uint64_t *ns);
void cg_slot_usage(const cg_system *c, unsigned slot, cg_usage *u);
/* v2 where the kernel keeps no per-stage peak (memory.peak resettable only
 * from 6.12): the memory the slot's processes hold now (memory.current).
 * The engine samples it when it kills a stage, whose init then reports no
 * peak RSS of its children: the stage's memory is at least that. false
 * elsewhere (the peak is known, or there is no memory controller). */
bool cg_slot_memory_now(const cg_system *c, unsigned slot, uint64_t *bytes);
/* The slot's processes (thread-group ids, as the engine's /proc numbers
 * them), at most cap of them into out: the count; 0 when none or unknown. */
size_t cg_slot_pids(const cg_system *c, unsigned slot, int *out, size_t cap);
/* SIGKILL every process in the slot (v2 cgroup.kill); true when it is empty. */
bool cg_slot_kill(const cg_system *c, unsigned slot);

#endif
