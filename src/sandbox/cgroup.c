#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum { H_MEMORY, H_PIDS, H_CPU, H_COUNT };   /* v1 hierarchies; v2 uses H_MEMORY only */
static const char *const v1_controller[H_COUNT] = { "memory", "pids", "cpuacct" };

struct cg_slot {
	int dir[H_COUNT];        /* slot directory per hierarchy (v2: dir[0]), -1 if absent */
	int procs[H_COUNT];      /* v1 "tasks", opened for the command's join (cg_slot_procs_fds) */
	int oom_efd;             /* v1 OOM notification eventfd */
	int peak_fd;             /* v2 memory.peak, reset per stage */
	bool peak_reset;         /* the reset worked (6.12 on): it is this stage's peak */
	/* Opened once (every stage reads or writes them: a path lookup each
	 * time costs ~4x the read itself); -1: by name instead. Only files
	 * that show fresh values on every read from offset 0: not
	 * cgroup.procs, whose v1 list an open file keeps reusing for up to a
	 * second (stale pids, perhaps reused by then, must never be killed). */
	int peak_rw;             /* v1 memory.max_usage_in_bytes */
	int oom_r;               /* v1 memory.oom_control, v2 memory.events */
	int cpu_rw;              /* v1 cpuacct.usage, v2 cpu.stat */
	uint64_t cpu_base_ns;    /* v2 cpu.stat usage at prepare */
	uint64_t oom_base;       /* oom_kill counter at prepare */
	uint64_t pids_base;      /* pids.events max counter at prepare */
	bool memsw;              /* v1 memory.memsw.* exists */
	bool limits_set;         /* the two below are what the files hold */
	int64_t memory_limit;
	uint32_t pids_limit;
};

struct cg_system {
	cg_mode mode;
	unsigned nslots;
	struct cg_slot *slots;
	char base[H_COUNT][PATH_MAX];   /* .../piston-<pid>, "" if the hierarchy is absent */
	int base_lock[H_COUNT];         /* the base directory, flock'ed LOCK_EX while we live */
	char unenforced[160];
	char describe[3 * PATH_MAX + 256]; /* version, placement, limits in force: the start line */
	bool have_memory, have_pids;    /* the controllers enforcing those limits */
	bool peak_unresettable;         /* v2: memory.peak cannot be reset here (before 6.12) */
	char leaf[PATH_MAX];            /* v2: the leaf the engine moved into, "" if none */
	char leaf_parent[PATH_MAX];     /* and the cgroup it came from */
	char enabled[32];               /* v2: "-memory -pids ..." undoing what we enabled there */
};

/* ---- small file helpers (dirfd-relative, no stdio) ---- */

static int write_at(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static ssize_t read_at(int dirfd, const char *name, char *out, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, out, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = 0;
	return n;
}

/* A cached file (fd >= 0: read afresh from offset 0) or, without one, by
 * name under dirfd. */
static ssize_t read_file(int fd, int dirfd, const char *name, char *out, size_t cap)
{
	if (fd < 0)
		return dirfd < 0 ? -1 : read_at(dirfd, name, out, cap);
	ssize_t n = pread(fd, out, cap - 1, 0);
	if (n < 0)
		return -1;
	out[n] = 0;
	return n;
}

static int write_file(int fd, int dirfd, const char *name, const char *text)
{
	if (fd < 0)
		return write_at(dirfd, name, text);
	return pwrite(fd, text, strlen(text), 0) == (ssize_t)strlen(text) ? 0 : -1;
}

static bool read_u64(int fd, int dirfd, const char *name, uint64_t *v)
{
	char b[64];
	if (read_file(fd, dirfd, name, b, sizeof b) <= 0)
		return false;
	*v = strtoull(b, NULL, 10);
	return true;
}

/* The value of "key N" in a flat-keyed file (memory.events, cpu.stat, oom_control). */
static bool read_key(int fd, int dirfd, const char *name, const char *key, uint64_t *v)
{
	char b[2048];
	if (read_file(fd, dirfd, name, b, sizeof b) <= 0)
		return false;
	size_t kl = strlen(key);
	for (char *line = b; line && *line; ) {
		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			*v = strtoull(line + kl + 1, NULL, 10);
			return true;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return false;
}

static void write_limit(char *b, size_t n, int64_t v, const char *none)
{
	if (v < 0)
		snprintf(b, n, "%s", none);
	else
		snprintf(b, n, "%" PRId64, v);
}

/* ---- discovery ---- */

/* Does the comma-separated list contain word? */
static bool has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p; ) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == wl && !strncmp(p, word, wl))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* Mount point of the v1 hierarchy holding controller (or the cgroup2 mount
 * when controller is NULL). */
static bool find_mount(const char *controller, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof line, f)) {
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		char mnt[PATH_MAX], fstype[64], opts[1024];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		if (sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (controller ? (!strcmp(fstype, "cgroup") && has_word(opts, controller))
		               : !strcmp(fstype, "cgroup2")) {
			snprintf(out, outlen, "%s", mnt);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* The engine's own cgroup path in the hierarchy with controller ("" = v2). */
static bool own_cgroup(const char *controller, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		/* v1: "N:ctrl,ctrl:/path"; v2: "0::/path" */
		if (controller[0] ? has_word(c1 + 1, controller) : (c1 == line + 1 && line[0] == '0' && !c1[1])) {
			snprintf(out, outlen, "%s", c2 + 1);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* SIGKILL every process listed in dir/cgroup.procs (opened afresh: see
 * struct cg_slot); true when none is left. */
static bool kill_procs_at(int dirfd)
{
	char b[8192];
	ssize_t n = read_at(dirfd, "cgroup.procs", b, sizeof b);
	if (n <= 0)
		return n == 0;
	for (char *p = b; *p; ) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0)
			kill((pid_t)pid, SIGKILL);
		p = end;
		while (*p == '\n')
			p++;
	}
	return false;
}

/* Empty and remove one cgroup directory (and its child directories). */
static void remove_cgroup_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_type != DT_DIR || e->d_name[0] == '.')
				continue;
			char sub[PATH_MAX];
			if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
				remove_cgroup_tree(sub);
		}
		closedir(d);
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		write_at(fd, "cgroup.kill", "1");    /* v2; harmlessly absent on v1 */
		for (int i = 0; i < 100 && !kill_procs_at(fd); i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000 }, NULL);
		close(fd);
	}
	for (int i = 0; i < 100 && rmdir(path) < 0 && errno == EBUSY; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000 }, NULL);
}

/* Any live process counts: the engine may be embedded in another program
 * (a test), and a recycled pid only delays the clean-up to a later start. */
static bool engine_alive(long pid)
{
	return !(kill((pid_t)pid, 0) < 0 && errno == ESRCH);
}

/* Remove piston-<pid> directories under parent whose engine is gone. An
 * engine holds an exclusive flock on its directory for its lifetime: that
 * is what says it is alive, whatever PID namespace it runs in (an engine in
 * a container shares the host's cgroup tree but not its pids). The pid test
 * stays as a second guard for directories made by older engines. */
static void remove_stale(const char *parent)
{
	DIR *d = opendir(parent);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		/* piston-<pid>: an engine's slots; piston-engine-<pid>: the v2 leaf it moved into. */
		bool leaf = !strncmp(e->d_name, "piston-engine-", 14);
		const char *num = leaf ? e->d_name + 14 : !strncmp(e->d_name, "piston-", 7) ? e->d_name + 7 : NULL;
		if (!num)
			continue;
		long pid = strtol(num, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid() || engine_alive(pid))
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof path, "%s/%s", parent, e->d_name) >= (int)sizeof path)
			continue;
		/* Alive elsewhere? A base directory is locked by its live engine; a
		 * leaf holds its live engine, whose pid reads as 0 from another PID
		 * namespace -- so any process listed at all counts. */
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char b[64];
		bool alive = fd < 0 || (leaf ? read_at(fd, "cgroup.procs", b, sizeof b) != 0
		                             : flock(fd, LOCK_EX | LOCK_NB) < 0);
		if (alive) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		log_info("sandbox: removing stale cgroup %s", path);
		remove_cgroup_tree(path);
		close(fd);   /* after the removal: our lock kept other engines off it */
	}
	closedir(d);
}

/* Create <mount><own>/piston-<pid> (after removing stale siblings) and
 * lock it for our lifetime (see remove_stale). The lock fd, or -1. */
static int make_base(const char *mnt, const char *own, char *out, size_t outlen)
{
	char parent[PATH_MAX];
	if (snprintf(parent, sizeof parent, "%s%s", mnt, strcmp(own, "/") ? own : "") >= (int)sizeof parent)
		return -1;
	remove_stale(parent);
	if (snprintf(out, outlen, "%s/piston-%ld", parent, (long)getpid()) >= (int)outlen)
		return -1;
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return -1;
	int fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		errno = EBUSY;   /* another live engine's directory: never share it */
		return -1;
	}
	return fd;
}

static int open_dir(const char *base, unsigned slot, bool create)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/slot%u", base, slot) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Does the space-separated list (cgroup.controllers) hold word exactly?
 * ("cpu" must not match "cpuset".) */
static bool has_controller(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; *p; ) {
		p += strspn(p, " \n");
		size_t l = strcspn(p, " \n");
		if (l == wl && !strncmp(p, word, wl))
			return true;
		p += l;
	}
	return false;
}

/* Is any v1 hierarchy of the controllers we use mounted? (Then they are
 * bound there, and a cgroup2 mount beside them is the hybrid layout's.) */
static bool v1_present(void)
{
	char mnt[PATH_MAX];
	for (int h = 0; h < H_COUNT; h++)
		if (find_mount(v1_controller[h], mnt, sizeof mnt))
			return true;
	return false;
}

/* Move every process listed in from/cgroup.procs into to (fds). */
static unsigned move_procs(int from, int to)
{
	char b[8192];
	unsigned moved = 0;
	for (int round = 0; round < 4; round++) {   /* a process may fork meanwhile */
		ssize_t n = read_at(from, "cgroup.procs", b, sizeof b);
		if (n <= 0)
			break;
		for (char *p = b; *p; ) {
			char *end;
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			char text[24];
			snprintf(text, sizeof text, "%ld", pid);
			if (pid > 0 && write_at(to, "cgroup.procs", text) == 0)
				moved++;
			p = end + strspn(end, "\n");
		}
	}
	return moved;
}

/* v2: the engine's cgroups under the cgroup it was started in (own): that
 * one's controllers must be enabled below it, which v2's "no internal
 * processes" rule refuses (EBUSY) while it holds processes, unless it is
 * the root. Then the engine moves into a leaf of its own (piston-engine-PID)
 * first -- and when the cgroup still holds others (a container's shell, a
 * unit's helper), those too: they share what was delegated to us. A leaf an
 * earlier engine made is not nested into: its parent is the delegated one. */
static bool setup_v2(cg_system *c, char *err, size_t errlen)
{
	char mnt[PATH_MAX], own[PATH_MAX];
	if (!find_mount(NULL, mnt, sizeof mnt) || !own_cgroup("", own, sizeof own))
		return false;
	if (!strcmp(own, "/"))
		own[0] = 0;
	const char *last = strrchr(own, '/');
	if (last && !strncmp(last + 1, "piston-engine-", 14))
		own[last - own] = 0;
	char ownpath[PATH_MAX], ctrls[512];
	if (snprintf(ownpath, sizeof ownpath, "%s%s", mnt, own) >= (int)sizeof ownpath)
		return false;
	int ownfd = open(ownpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ownfd < 0)
		return false;
	ssize_t n = read_at(ownfd, "cgroup.controllers", ctrls, sizeof ctrls);
	if (n < 0)
		n = 0, ctrls[0] = 0;
	bool have[3] = { has_controller(ctrls, "memory"), has_controller(ctrls, "pids"), has_controller(ctrls, "cpu") };
	if (!have[0] && !have[1] && !have[2] && v1_present()) {
		close(ownfd);   /* hybrid: the controllers live in the v1 hierarchies */
		return false;
	}
	char enable[32] = "";
	static const char *const names[3] = { "memory", "pids", "cpu" };
	for (int i = 0; i < 3; i++)
		if (have[i])
			snprintf(enable + strlen(enable), sizeof enable - strlen(enable), "%s+%s", enable[0] ? " " : "", names[i]);
	char subtree[512] = "";
	read_at(ownfd, "cgroup.subtree_control", subtree, sizeof subtree);
	const char *placement = own[0] ? "a non-root cgroup" : "the root cgroup";
	unsigned others = 0;
	/* The real root has no cgroup.type (a cgroup namespace's root does).
	 * Anywhere else, holding the engine: into the leaf before enabling
	 * anything -- a kernel may accept threaded controllers (pids) in a
	 * cgroup with processes, which then makes it a thread root, below which
	 * no domain (the job cgroups) can have controllers (EOPNOTSUPP). */
	char procs[16] = "";
	bool real_root = !own[0] && faccessat(ownfd, "cgroup.type", F_OK, 0) < 0;
	bool busy = !real_root && read_at(ownfd, "cgroup.procs", procs, sizeof procs) > 0;
	int rc = 0;
	if (!busy && enable[0])
		rc = write_at(ownfd, "cgroup.subtree_control", enable);
	if (busy || (rc < 0 && errno == EBUSY)) {
		/* Not the root (in a cgroup namespace it may look like it). */
		char leaf[PATH_MAX];
		if (snprintf(leaf, sizeof leaf, "%s/piston-engine-%ld", ownpath, (long)getpid()) >= (int)sizeof leaf) {
			close(ownfd);
			return false;
		}
		int lfd = mkdir(leaf, 0755) == 0 || errno == EEXIST ? open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (lfd < 0 || write_at(lfd, "cgroup.procs", "0") < 0) {
			snprintf(err, errlen, "cgroup v2: cannot move the engine into its own leaf %s: %s", leaf, strerror(errno));
			if (lfd >= 0)
				close(lfd);
			rmdir(leaf);
			close(ownfd);
			return false;
		}
		snprintf(c->leaf, sizeof c->leaf, "%s", leaf);
		snprintf(c->leaf_parent, sizeof c->leaf_parent, "%s", ownpath);
		/* Others that keep it busy share what was delegated: along too. */
		if (read_at(ownfd, "cgroup.procs", procs, sizeof procs) > 0)
			others = move_procs(ownfd, lfd);
		rc = enable[0] ? write_at(ownfd, "cgroup.subtree_control", enable) : 0;
		close(lfd);
		placement = others ? "a non-root cgroup holding other processes" : "a non-root cgroup (the engine moved into a leaf)";
	}
	if (rc < 0) {
		snprintf(err, errlen, "cgroup v2: cannot enable %s in %s/cgroup.subtree_control: %s", enable,
		         own[0] ? ownpath : mnt, strerror(errno));
		close(ownfd);
		return false;
	}
	/* What we enabled ourselves, to hand back on a clean exit. */
	for (int i = 0; i < 3; i++)
		if (have[i] && !has_controller(subtree, names[i]))
			snprintf(c->enabled + strlen(c->enabled), sizeof c->enabled - strlen(c->enabled), "%s-%s",
			         c->enabled[0] ? " " : "", names[i]);
	close(ownfd);
	if ((c->base_lock[0] = make_base(mnt, own[0] ? own : "/", c->base[0], sizeof c->base[0])) < 0) {
		snprintf(err, errlen, "cgroup v2: cannot create %s: %s", c->base[0], strerror(errno));
		return false;
	}
	int bfd = open(c->base[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0 || (enable[0] && write_at(bfd, "cgroup.subtree_control", enable) < 0)) {
		snprintf(err, errlen, "cgroup v2: cannot enable controllers in %s: %s", c->base[0], strerror(errno));
		if (bfd >= 0)
			close(bfd);
		return false;
	}
	close(bfd);
	for (unsigned i = 0; i < c->nslots; i++) {
		struct cg_slot *s = &c->slots[i];
		s->dir[0] = open_dir(c->base[0], i, true);
		if (s->dir[0] < 0) {
			snprintf(err, errlen, "cgroup v2: slot %u: %s", i, strerror(errno));
			return false;
		}
		if (have[0]) {
			write_at(s->dir[0], "memory.oom.group", "1");   /* an OOM kills the whole stage */
			s->oom_r = openat(s->dir[0], "memory.events", O_RDONLY | O_CLOEXEC);
		}
		/* cpu.stat's usage is core (every v2 cgroup has it): the cpu
		 * controller is not needed for CPU time. */
		s->cpu_rw = openat(s->dir[0], "cpu.stat", O_RDONLY | O_CLOEXEC);
	}
	c->mode = CG_V2;
	c->have_memory = have[0];
	c->have_pids = have[1];
	/* Each missing controller: which, why, and what it costs -- once. */
	const char *why = own[0] ? "not enabled in the parent's cgroup.subtree_control (not delegated: with systemd, "
	                           "Delegate=yes)"
	                         : "not available on this kernel";
	if (!have[0])
		log_warn("sandbox: cgroup v2 controller 'memory' is missing from %s: %s; memory limits fall back to a "
		         "per-process RLIMIT_DATA, no OOM reports, no peak memory", own[0] ? ownpath : mnt, why);
	if (!have[1])
		log_warn("sandbox: cgroup v2 controller 'pids' is missing from %s: %s; the process limit is RLIMIT_NPROC "
		         "only", own[0] ? ownpath : mnt, why);
	if (!have[2])
		log_warn("sandbox: cgroup v2 controller 'cpu' is missing from %s: %s; no CPU weighting between jobs "
		         "(CPU time is still measured: cpu.stat)", own[0] ? ownpath : mnt, why);
	size_t off = 0;
	if (!have[0])
		off += (size_t)snprintf(c->unenforced + off, sizeof c->unenforced - off, "memory (cgroup; RLIMIT_DATA per process)");
	if (!have[1] && off < sizeof c->unenforced)
		snprintf(c->unenforced + off, sizeof c->unenforced - off, "%sprocess count (cgroup; RLIMIT_NPROC only)",
		         off ? ", " : "");
	char moved[96] = "";
	if (c->leaf[0])
		snprintf(moved, sizeof moved, ", moved into %s%s", strrchr(c->leaf, '/') + 1,
		         others ? " with the processes beside it" : "");
	snprintf(c->describe, sizeof c->describe, "cgroup v2, the engine in %s (%s%s), job cgroups under %s; "
	         "limits by cgroup: %s%s%s%s", placement, own[0] ? own : "/", moved, c->base[0],
	         have[0] ? "memory" : "", have[0] && have[1] ? ", " : "", have[1] ? "process count" : "",
	         !have[0] && !have[1] ? "none" : "");
	return true;
}

static bool setup_v1(cg_system *c, char *err, size_t errlen)
{
	bool any = false;
	for (int h = 0; h < H_COUNT; h++) {
		char mnt[PATH_MAX], own[PATH_MAX];
		c->base[h][0] = 0;
		if (!find_mount(v1_controller[h], mnt, sizeof mnt) || !own_cgroup(v1_controller[h], own, sizeof own))
			continue;
		if ((c->base_lock[h] = make_base(mnt, own, c->base[h], sizeof c->base[h])) < 0) {
			log_warn("sandbox: cgroup v1 %s: cannot create %s: %s", v1_controller[h], c->base[h], strerror(errno));
			c->base[h][0] = 0;
			continue;
		}
		any = true;
	}
	if (!any)
		return false;
	for (unsigned i = 0; i < c->nslots; i++) {
		struct cg_slot *s = &c->slots[i];
		for (int h = 0; h < H_COUNT; h++) {
			if (!c->base[h][0])
				continue;
			s->dir[h] = open_dir(c->base[h], i, true);
			/* The command joins through "tasks", not cgroup.procs: a
			 * thread writing "0" to tasks moves only itself, which the
			 * kernel (9a3284fad42f; stable kernels since 2022) does without
			 * write-locking the global cgroup_threadgroup_rwsem --
			 * after an idle spell that lock waits for an RCU grace
			 * period (14-17 ms here). The command is single-threaded
			 * then, so the whole process moves. */
			s->procs[h] = s->dir[h] < 0 ? -1 : openat(s->dir[h], "tasks", O_WRONLY | O_CLOEXEC);
			if (s->dir[h] < 0 || s->procs[h] < 0) {
				snprintf(err, errlen, "cgroup v1 %s: slot %u: %s", v1_controller[h], i, strerror(errno));
				return false;
			}
		}
		if (s->dir[H_CPU] >= 0)
			s->cpu_rw = openat(s->dir[H_CPU], "cpuacct.usage", O_RDWR | O_CLOEXEC);
		if (s->dir[H_MEMORY] >= 0) {
			s->peak_rw = openat(s->dir[H_MEMORY], "memory.max_usage_in_bytes", O_RDWR | O_CLOEXEC);
			s->oom_r = openat(s->dir[H_MEMORY], "memory.oom_control", O_RDONLY | O_CLOEXEC);
			s->memsw = faccessat(s->dir[H_MEMORY], "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
			s->oom_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			int ofd = openat(s->dir[H_MEMORY], "memory.oom_control", O_RDONLY | O_CLOEXEC);
			char reg[64];
			snprintf(reg, sizeof reg, "%d %d", s->oom_efd, ofd);
			if (s->oom_efd < 0 || ofd < 0 || write_at(s->dir[H_MEMORY], "cgroup.event_control", reg) < 0) {
				if (s->oom_efd >= 0)
					close(s->oom_efd);
				s->oom_efd = -1;
			}
			if (ofd >= 0)
				close(ofd);
		}
	}
	c->mode = CG_V1;
	c->have_memory = c->base[H_MEMORY][0] != 0;
	c->have_pids = c->base[H_PIDS][0] != 0;
	snprintf(c->describe, sizeof c->describe, "cgroup v1 (%s%s%s%s%s), job cgroups under %s",
	         c->base[H_MEMORY][0] ? "memory" : "", c->base[H_MEMORY][0] && c->base[H_PIDS][0] ? ", " : "",
	         c->base[H_PIDS][0] ? "pids" : "", c->base[H_CPU][0] && (c->base[H_MEMORY][0] || c->base[H_PIDS][0]) ? ", " : "",
	         c->base[H_CPU][0] ? "cpuacct" : "", c->base[H_MEMORY][0] ? c->base[H_MEMORY] : c->base[H_PIDS][0] ? c->base[H_PIDS] : c->base[H_CPU]);
	const char *missing[H_COUNT] = { "memory", "process count (pids)", "CPU time accounting (cpuacct)" };
	size_t off = 0;
	for (int h = 0; h < H_COUNT; h++)
		if (!c->base[h][0] && off < sizeof c->unenforced)
			off += (size_t)snprintf(c->unenforced + off, sizeof c->unenforced - off, "%s%s",
			                        off ? ", " : "", missing[h]);
	return true;
}

/* A clean exit in a non-root v2 cgroup: hand back what was enabled there,
 * return to it and remove the leaf -- when the engine is alone in the leaf
 * and no other engine's cgroups still need the controllers; otherwise the
 * leaf stays (a later engine removes it once it is empty). */
static void leave_leaf(cg_system *c)
{
	int pfd = open(c->leaf_parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int lfd = open(c->leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char b[64];
	char self[24];
	snprintf(self, sizeof self, "%ld\n", (long)getpid());
	ssize_t n = lfd >= 0 ? read_at(lfd, "cgroup.procs", b, sizeof b) : -1;
	bool alone = n > 0 && !strcmp(b, self);
	if (pfd >= 0 && alone && (!c->enabled[0] || write_at(pfd, "cgroup.subtree_control", c->enabled) == 0) &&
	    write_at(pfd, "cgroup.procs", "0") == 0)   /* 5.10: the leaf is busy a moment longer */
		for (int i = 0; i < 100 && rmdir(c->leaf) < 0 && errno == EBUSY; i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000 }, NULL);
	if (pfd >= 0)
		close(pfd);
	if (lfd >= 0)
		close(lfd);
}

cg_system *cg_system_init(unsigned slots, char *err, size_t errlen)
{
	cg_system *c = calloc(1, sizeof *c);
	if (!c || !(c->slots = calloc(slots ? slots : 1, sizeof *c->slots))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->nslots = slots;
	for (int h = 0; h < H_COUNT; h++)
		c->base_lock[h] = -1;
	for (unsigned i = 0; i < slots; i++) {
		struct cg_slot *s = &c->slots[i];
		for (int h = 0; h < H_COUNT; h++)
			s->dir[h] = s->procs[h] = -1;
		s->oom_efd = s->peak_fd = s->peak_rw = s->oom_r = s->cpu_rw = -1;
	}
	err[0] = 0;
	if (!setup_v2(c, err, errlen)) {
		if (c->base[0][0])   /* half set up: its cgroups go, back where we came from */
			remove_cgroup_tree(c->base[0]);
		c->base[0][0] = 0;
		if (c->base_lock[0] >= 0)
			close(c->base_lock[0]);
		c->base_lock[0] = -1;
		if (c->leaf[0])
			leave_leaf(c);
		c->leaf[0] = 0;
	}
	if (c->mode != CG_V2 && !setup_v1(c, err, errlen)) {
		if (err[0])
			log_warn("sandbox: %s", err);
		cg_system_free(c);
		c = calloc(1, sizeof *c);
		if (!c) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		c->mode = CG_NONE;
		for (int h = 0; h < H_COUNT; h++)
			c->base_lock[h] = -1;
		snprintf(c->unenforced, sizeof c->unenforced,
		         "memory (cgroup; RLIMIT_DATA per process), process count (cgroup; RLIMIT_NPROC only), "
		         "exact CPU time accounting (no usable cgroup)");
		snprintf(c->describe, sizeof c->describe, "no usable cgroup");
	}
	err[0] = 0;
	return c;
}

void cg_system_free(cg_system *c)
{
	if (!c)
		return;
	for (unsigned i = 0; c->slots && i < c->nslots; i++) {
		struct cg_slot *s = &c->slots[i];
		int fds[] = { s->oom_efd, s->peak_fd, s->peak_rw, s->oom_r, s->cpu_rw };
		for (size_t k = 0; k < sizeof fds / sizeof fds[0]; k++)
			if (fds[k] >= 0)
				close(fds[k]);
		for (int h = 0; h < H_COUNT; h++) {
			int hf[] = { s->dir[h], s->procs[h] };
			for (size_t k = 0; k < sizeof hf / sizeof hf[0]; k++)
				if (hf[k] >= 0)
					close(hf[k]);
		}
	}
	for (int h = 0; h < H_COUNT; h++) {
		if (c->base[h][0])
			remove_cgroup_tree(c->base[h]);
		if (c->base_lock[h] >= 0)
			close(c->base_lock[h]);
	}
	if (c->mode == CG_V2 && c->leaf[0])
		leave_leaf(c);
	free(c->slots);
	free(c);
}

cg_mode cg_mode_of(const cg_system *c) { return c->mode; }
bool cg_enforces_memory(const cg_system *c) { return c->have_memory; }
bool cg_enforces_pids(const cg_system *c) { return c->have_pids; }
const char *cg_describe(const cg_system *c) { return c->describe; }
const char *cg_unenforced(const cg_system *c) { return c->unenforced; }

int cg_slot_prepare(cg_system *c, unsigned slot, int64_t memory_bytes, uint32_t max_procs)
{
	if (c->mode == CG_NONE)
		return 0;
	struct cg_slot *s = &c->slots[slot];
	/* Consecutive stages mostly share limits: write only what changed. */
	bool same_mem = s->limits_set && s->memory_limit == memory_bytes;
	bool same_pids = s->limits_set && s->pids_limit == max_procs;
	s->limits_set = false;   /* until every write below succeeded */
	char v[32], pids[32];
	if (max_procs)
		snprintf(pids, sizeof pids, "%" PRIu32, max_procs);
	else
		snprintf(pids, sizeof pids, "max");
	if (c->mode == CG_V2) {
		int d = s->dir[0];
		write_limit(v, sizeof v, memory_bytes, "max");
		/* A missing controller has no files: its limit is a per-process
		 * rlimit (sandbox.c), said at start and in the stage's answer. */
		if ((c->have_memory && !same_mem && write_at(d, "memory.max", v) < 0) ||
		    (c->have_pids && !same_pids && write_at(d, "pids.max", pids) < 0))
			return -1;
		if (c->have_memory && !same_mem)
			write_at(d, "memory.swap.max", memory_bytes < 0 ? "max" : "0");   /* absent without swap */
		if (s->peak_fd >= 0)
			close(s->peak_fd);
		/* Since 6.12 a write resets the peak seen through this open file. */
		s->peak_fd = c->peak_unresettable ? -1 : openat(d, "memory.peak", O_RDWR | O_CLOEXEC);
		s->peak_reset = s->peak_fd >= 0 && write(s->peak_fd, "reset\n", 6) == 6;
		c->peak_unresettable = !s->peak_reset;
		/* Older kernels: the slot's lifetime peak, an earlier stage's
		 * perhaps -- unused; the stage's own processes' peak RSS (init's
		 * rusage of them) is the figure then. Nothing held open. */
		if (!s->peak_reset && s->peak_fd >= 0) {
			close(s->peak_fd);
			s->peak_fd = -1;
		}
		s->oom_base = 0;
		read_key(s->oom_r, d, "memory.events", "oom_kill", &s->oom_base);
		s->pids_base = 0;
		read_key(-1, d, "pids.events", "max", &s->pids_base);
		uint64_t us = 0;
		read_key(s->cpu_rw, d, "cpu.stat", "usage_usec", &us);
		s->cpu_base_ns = us * 1000;
		goto done;
	}
	int m = s->dir[H_MEMORY];
	if (m >= 0) {
		write_limit(v, sizeof v, memory_bytes, "-1");
		if (!same_mem) {
			if (s->memsw)
				write_at(m, "memory.memsw.limit_in_bytes", "-1");   /* memsw >= mem at every step */
			if (write_at(m, "memory.limit_in_bytes", v) < 0)
				return -1;
			if (s->memsw && memory_bytes >= 0)
				write_at(m, "memory.memsw.limit_in_bytes", v);      /* no escape into swap */
		}
		write_file(s->peak_rw, m, "memory.max_usage_in_bytes", "0");
		s->oom_base = 0;
		read_key(s->oom_r, m, "memory.oom_control", "oom_kill", &s->oom_base);
		uint64_t drain;
		if (s->oom_efd >= 0 && read(s->oom_efd, &drain, sizeof drain) < 0 && errno != EAGAIN)
			return -1;
	}
	if (!same_pids && s->dir[H_PIDS] >= 0 && write_at(s->dir[H_PIDS], "pids.max", pids) < 0)
		return -1;
	s->pids_base = 0;
	if (s->dir[H_PIDS] >= 0)
		read_key(-1, s->dir[H_PIDS], "pids.events", "max", &s->pids_base);
	if (s->dir[H_CPU] >= 0 && write_file(s->cpu_rw, s->dir[H_CPU], "cpuacct.usage", "0") < 0)
		return -1;
done:
	s->limits_set = true;
	s->memory_limit = memory_bytes;
	s->pids_limit = max_procs;
	return 0;
}

int cg_slot_dirfd(const cg_system *c, unsigned slot)
{
	return c->mode == CG_V2 ? c->slots[slot].dir[0] : -1;
}

int cg_slot_procs_fds(const cg_system *c, unsigned slot, int out[3])
{
	int n = 0;
	for (int h = 0; c->mode == CG_V1 && h < H_COUNT && n < 3; h++)
		if (c->slots[slot].procs[h] >= 0)
			out[n++] = c->slots[slot].procs[h];
	return n;
}

int cg_slot_oom_eventfd(const cg_system *c, unsigned slot)
{
	return c->mode == CG_V1 ? c->slots[slot].oom_efd : -1;
}

bool cg_slot_cpu_ns(const cg_system *c, unsigned slot, uint64_t *ns)
{
	if (c->mode == CG_NONE)   /* no slots array: no NULL + offset (UBSan) */
		return false;
	const struct cg_slot *s = &c->slots[slot];
	if (c->mode == CG_V1)
		return read_u64(s->cpu_rw, s->dir[H_CPU], "cpuacct.usage", ns);
	uint64_t us;
	if (c->mode == CG_V2 && read_key(s->cpu_rw, s->dir[0], "cpu.stat", "usage_usec", &us)) {
		*ns = us * 1000 > s->cpu_base_ns ? us * 1000 - s->cpu_base_ns : 0;
		return true;
	}
	return false;
}

void cg_slot_usage(const cg_system *c, unsigned slot, cg_usage *u)
{
	memset(u, 0, sizeof *u);
	if (c->mode == CG_NONE)
		return;
	const struct cg_slot *s = &c->slots[slot];
	u->have_cpu = cg_slot_cpu_ns(c, slot, &u->cpu_ns);
	uint64_t ooms = 0;
	if (c->mode == CG_V2) {
		char b[64];
		ssize_t n = s->peak_fd >= 0 ? pread(s->peak_fd, b, sizeof b - 1, 0) : -1;
		if (n > 0) {
			b[n] = 0;
			u->peak_bytes = strtoull(b, NULL, 10);
			u->have_memory = true;
		}
		if (read_key(s->oom_r, s->dir[0], "memory.events", "oom_kill", &ooms))
			u->oom_killed = ooms > s->oom_base;
		uint64_t refused;
		if (read_key(-1, s->dir[0], "pids.events", "max", &refused) && refused > s->pids_base)
			u->pids_refused = refused - s->pids_base;
	} else if (s->dir[H_MEMORY] >= 0) {
		u->have_memory = read_u64(s->peak_rw, s->dir[H_MEMORY], "memory.max_usage_in_bytes", &u->peak_bytes);
		if (read_key(s->oom_r, s->dir[H_MEMORY], "memory.oom_control", "oom_kill", &ooms))
			u->oom_killed = ooms > s->oom_base;
	}
	uint64_t refused;
	if (c->mode == CG_V1 && s->dir[H_PIDS] >= 0 &&
	    read_key(-1, s->dir[H_PIDS], "pids.events", "max", &refused) && refused > s->pids_base) {
		u->pids_refused = refused - s->pids_base;
	}
}

bool cg_slot_memory_now(const cg_system *c, unsigned slot, uint64_t *bytes)
{
	if (c->mode != CG_V2 || !c->have_memory || c->slots[slot].peak_reset)
		return false;
	return read_u64(-1, c->slots[slot].dir[0], "memory.current", bytes);
}

size_t cg_slot_pids(const cg_system *c, unsigned slot, int *out, size_t cap)
{
	if (c->mode == CG_NONE)
		return 0;
	const struct cg_slot *s = &c->slots[slot];
	int dir = -1;
	for (int h = 0; h < H_COUNT && dir < 0; h++)   /* v1: the command joins every hierarchy */
		dir = s->dir[h];
	char b[8192];
	if (dir < 0 || read_at(dir, "cgroup.procs", b, sizeof b) <= 0)
		return 0;
	size_t n = 0;
	for (char *p = b; *p && n < cap; ) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0)
			out[n++] = (int)pid;
		p = end;
		while (*p == '\n')
			p++;
	}
	return n;
}

bool cg_slot_kill(const cg_system *c, unsigned slot)
{
	if (c->mode == CG_NONE)   /* no slots array: no NULL + offset (UBSan) */
		return true;
	const struct cg_slot *s = &c->slots[slot];
	if (c->mode == CG_V2) {
		char b[16];
		if (read_at(s->dir[0], "cgroup.procs", b, sizeof b) == 0)
			return true;   /* the usual case: nothing to kill */
		/* By pid, not cgroup.kill: on some kernels (Debian's 6.1) a cgroup
		 * once killed that way SIGKILLs every later child cloned into it
		 * with CLONE_INTO_CGROUP -- every later stage of the slot. The
		 * stage's PID namespace is gone by now anyway: this is a backstop. */
		kill_procs_at(s->dir[0]);
		return read_at(s->dir[0], "cgroup.procs", b, sizeof b) == 0;
	}
	if (c->mode == CG_V1) {
		bool empty = true;
		for (int h = 0; h < H_COUNT; h++)
			if (s->dir[h] >= 0 && !kill_procs_at(s->dir[h]))
				empty = false;
		return empty;
	}
	return true;
}
