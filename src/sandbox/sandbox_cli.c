/*
 * `piston sandbox`: run one command in the sandbox and print the STAGE
 * object of SPEC section 1 as JSON; with --bench, time sandboxed runs against
 * a plain fork+exec of the same binary inside this one process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "json.h"
#include "loop.h"
#include "sandbox.h"

static const char usage_text[] =
	"usage: piston sandbox [OPTIONS] --root PKGDIR -- CMD [ARGS...]\n"
	"Runs CMD (a path inside the sandbox, e.g. /bin/sh or /pkg/run) in a fresh sandbox\n"
	"and prints the result as JSON (stdout, stderr, output, code, signal, status, message,\n"
	"memory, cpu_time, wall_time). Exit status 0 when the sandbox worked.\n\n"
	"  --root PKGDIR     package directory (with usr/), mounted at /usr and /pkg (required)\n"
	"  --box DIR         copy DIR's regular files into /box\n"
	"  --stdin FILE      feed FILE to the program's stdin (- for this process's stdin)\n"
	"  --time MS         CPU time limit (PISTON_RUN_CPU_TIME)\n"
	"  --wall MS         wall time limit (PISTON_RUN_TIMEOUT)\n"
	"  --mem BYTES       memory limit, -1 none (PISTON_RUN_MEMORY_LIMIT)\n"
	"  --procs N         process limit (PISTON_MAX_PROCESS_COUNT)\n"
	"  --files N         open files limit (PISTON_MAX_OPEN_FILES)\n"
	"  --fsize BYTES     file size limit (PISTON_MAX_FILE_SIZE)\n"
	"  --output BYTES    per-stream output cap (PISTON_OUTPUT_MAX_SIZE)\n"
	"  --slot N          job slot (uid PISTON_RUNNER_UID_MIN+N), default 0\n"
	"  --bench N         run CMD N times sequentially and N times with --parallel workers,\n"
	"                    beside N plain fork+execs of the same binary (sequential and\n"
	"                    with as many workers); print a table\n"
	"  --parallel P      concurrent sandboxes for --bench (default 2)\n"
	"  --pauses MS,MS..  with --bench: then N runs per pause, each after that idle pause,\n"
	"                    interleaved with a plain fork+exec after the same pause (p50s and\n"
	"                    the sandbox's set-up/run/teardown split)\n";

typedef struct cli {
	const char *root, *boxdir, *stdin_path;
	sbx_limits lim;
	unsigned slot;
	unsigned bench, parallel;
	const char *pauses;        /* --pauses: comma-separated ms, or NULL */
	char **cmd;
} cli;

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return false;
	*v = x;
	return true;
}

static int parse_args(int argc, char **argv, cli *c)
{
	c->lim = (sbx_limits){
		.wall_ms = cfg.run_timeout, .cpu_ms = cfg.run_cpu_time, .memory_bytes = cfg.run_memory_limit,
		.max_procs = cfg.max_process_count, .max_open_files = cfg.max_open_files,
		.max_file_size = cfg.max_file_size, .output_max = cfg.output_max_size,
	};
	c->parallel = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			c->cmd = argv + i + 1;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "piston sandbox: %s needs a value\n", a);
			return -1;
		}
		const char *v = argv[++i];
		uint64_t n = 0;
		bool num_ok = parse_u64(v, &n);
		if (!strcmp(a, "--root"))
			c->root = v;
		else if (!strcmp(a, "--box"))
			c->boxdir = v;
		else if (!strcmp(a, "--stdin"))
			c->stdin_path = v;
		else if (!strcmp(a, "--pauses") && v[strspn(v, "0123456789,")] == 0 && v[0])
			c->pauses = v;
		else if (!strcmp(a, "--mem")) {
			if (!strcmp(v, "-1"))
				c->lim.memory_bytes = -1;
			else if (num_ok && n <= INT64_MAX)
				c->lim.memory_bytes = (int64_t)n;
			else
				goto bad;
		} else if (!num_ok) {
			goto bad;
		} else if (!strcmp(a, "--time"))
			c->lim.cpu_ms = n;
		else if (!strcmp(a, "--wall"))
			c->lim.wall_ms = n;
		else if (!strcmp(a, "--procs") && n <= UINT32_MAX)
			c->lim.max_procs = (uint32_t)n;
		else if (!strcmp(a, "--files") && n <= UINT32_MAX)
			c->lim.max_open_files = (uint32_t)n;
		else if (!strcmp(a, "--fsize"))
			c->lim.max_file_size = n;
		else if (!strcmp(a, "--output"))
			c->lim.output_max = n;
		else if (!strcmp(a, "--slot") && n < 4096)
			c->slot = (unsigned)n;
		else if (!strcmp(a, "--bench") && n > 0 && n <= 1000000)
			c->bench = (unsigned)n;
		else if (!strcmp(a, "--parallel") && n > 0 && n <= 256)
			c->parallel = (unsigned)n;
		else
			goto bad;
		continue;
bad:
		fprintf(stderr, "piston sandbox: bad option or value: %s %s\n", a, v);
		return -1;
	}
	if (!c->cmd || !c->cmd[0]) {
		fprintf(stderr, "piston sandbox: no command (put it after --)\n%s", usage_text);
		return -1;
	}
	if (!c->root) {
		fprintf(stderr, "piston sandbox: --root PKGDIR is required\n");
		return -1;
	}
	return 0;
}

static bool read_all(int fd, buf *out)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 && !buf_failed(out);
		buf_append(out, chunk, (size_t)n);
	}
}

/* The package's environment file plus HOME, PATH (unless given). */
static char **make_env(const char *root, buf *storage)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/environment", root);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		read_all(fd, storage);
		close(fd);
	}
	buf_puts(storage, "\nHOME=/tmp\n");
	bool has_path = false;
	size_t count = 2;
	for (size_t i = 0; i < storage->len; i++)
		if (storage->data[i] == '\n')
			count++;
	char **env = calloc(count + 2, sizeof *env);
	if (!env || buf_failed(storage))
		return NULL;
	size_t k = 0;
	for (char *line = storage->data; line && *line; ) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strchr(line, '=') && line[0] != '#') {
			if (!strncmp(line, "PATH=", 5))
				has_path = true;
			env[k++] = line;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!has_path)
		env[k++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	env[k] = NULL;
	return env;
}

static int fill_box(sbx_box *box, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "piston sandbox: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int dfd = dirfd(d), rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		buf data = BUF_INIT;
		if (!read_all(fd, &data) || sbx_box_write(box, e->d_name, data.data ? data.data : "", data.len,
		                                         st.st_mode & 0777) < 0) {
			fprintf(stderr, "piston sandbox: copying %s into the box: %s\n", e->d_name, strerror(errno));
			rc = -1;
		}
		buf_free(&data);
		close(fd);
	}
	closedir(d);
	return rc;
}

/* ---- one run ---- */

typedef struct one_run {
	loop *l;
	sbx_result res;
	bool done;
} one_run;

static void one_done(void *arg, sbx_result *res)
{
	one_run *o = arg;
	o->res = *res;
	o->done = true;
	loop_stop(o->l);
}

static void print_result(const sbx_result *r)
{
	buf out = BUF_INIT;
	jw w;
	jw_init(&w, &out);
	sbx_result_write_json(&w, r);
	buf_putc(&out, '\n');
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
}

/* ---- benchmark ---- */

typedef struct bench bench;

/* Each slot's callback argument. */
typedef struct bench_slot {
	bench *b;
	unsigned slot;
} bench_slot;

struct bench {
	loop *l;
	sbx_system *sys;
	const cli *c;
	char **env;
	unsigned total, started, finished, failed;
	uint64_t *lat_ns;          /* per run, sequential mode */
	uint64_t run_start[256];   /* per slot */
	sbx_box *boxes[256];
	bool record;
	bench_slot slot_args[256];
};

static void bench_start(bench *b, unsigned slot);

static void bench_slot_done(void *arg, sbx_result *res)
{
	bench_slot *bs = arg;
	bench *b = bs->b;
	if (res->status[0])
		b->failed++;
	sbx_result_free(res);
	sbx_box_destroy(b->boxes[bs->slot]);
	b->boxes[bs->slot] = NULL;
	if (b->record)
		b->lat_ns[b->finished] = mono_ns() - b->run_start[bs->slot];
	b->finished++;
	if (b->started < b->total)
		bench_start(b, bs->slot);
	else if (b->finished == b->total)
		loop_stop(b->l);
}

static void bench_start(bench *b, unsigned slot)
{
	char err[256];
	b->run_start[slot] = mono_ns();
	b->started++;
	b->boxes[slot] = sbx_box_create(b->sys, slot, 0, err, sizeof err);
	sbx_spec spec = {
		.pkg_dir = b->c->root, .box = b->boxes[slot], .slot = slot,
		.argv = (const char *const *)b->c->cmd, .envp = (const char *const *)b->env,
		.limits = b->c->lim,
	};
	b->slot_args[slot] = (bench_slot){ b, slot };
	sbx_callbacks cb = { .on_done = bench_slot_done, .arg = &b->slot_args[slot] };
	if (!b->boxes[slot] || !sbx_start(b->sys, b->l, &spec, &cb, err, sizeof err)) {
		fprintf(stderr, "piston sandbox: bench: %s\n", err);
		exit(1);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, unsigned n, unsigned p)
{
	unsigned i = (unsigned)(((uint64_t)n * p + 99) / 100);
	return v[i ? i - 1 : 0];
}

/* The host path of the sandbox path argv[0] (/bin/x -> ROOT/usr/bin/x). */
static void host_path(const char *root, const char *p, char *out, size_t n)
{
	static const char *const links[] = { "/bin/", "/sbin/", "/lib/", "/lib64/" };
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (!strncmp(p, links[i], strlen(links[i]))) {
			snprintf(out, n, "%s/usr%s", root, p);
			return;
		}
	if (!strncmp(p, "/pkg/", 5))
		snprintf(out, n, "%s/%s", root, p + 5);
	else
		snprintf(out, n, "%s%s", root, p);
}

/* One plain vfork+exec+wait of exe (a function of its own: vfork): true if
 * it ran and exited normally with a code other than 127 (exec failed). */
static __attribute__((noinline)) bool plain_run(const char *exe, char **argv, char **env)
{
	pid_t p = vfork();
	if (p == 0) {
		execve(exe, argv, env);
		_exit(127);
	}
	int st;
	return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) != 127;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int run_paused(const cli *c, sbx_system *sys, char **env, loop *l, const char *exe);

static int run_bench(const cli *c, sbx_system *sys, char **env)
{
	unsigned n = c->bench;
	uint64_t *seq = calloc(n, sizeof *seq), *plain = calloc(n, sizeof *plain);
	loop *l = loop_new();
	if (!seq || !plain || !l)
		return 1;
	char exe[PATH_MAX];
	host_path(c->root, c->cmd[0], exe, sizeof exe);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = mono_ns();
		bool ok = plain_run(exe, c->cmd, env);
		plain[i] = mono_ns() - t0;
		if (!ok) {
			fprintf(stderr, "piston sandbox: bench: cannot run %s on the host\n", exe);
			return 1;
		}
	}
	bench b = { .l = l, .sys = sys, .c = c, .env = env, .total = n, .lat_ns = seq, .record = true };
	bench_start(&b, 0);
	loop_run(l);
	unsigned seq_failed = b.failed;
	bench pb = { .l = l, .sys = sys, .c = c, .env = env, .total = n };
	unsigned par = c->parallel < n ? c->parallel : n;
	uint64_t t0 = mono_ns(), cpu0 = thread_cpu_ns();
	for (unsigned s = 0; s < par; s++)
		bench_start(&pb, s);
	loop_run(l);
	double secs = (double)(mono_ns() - t0) / 1e9;
	/* The engine's own share: its thread only (inits are other tasks). */
	double engine_us = (double)(thread_cpu_ns() - cpu0) / 1e3 / n;
	/* Last, so it cannot disturb the sandboxed runs: the same n plain runs
	 * split over `parallel` worker processes -- the machine's own rate for
	 * this program, the reference for the sandbox's. */
	unsigned pw = c->parallel ? c->parallel : 1;
	uint64_t pt0 = mono_ns();
	for (unsigned w = 0; w < pw; w++) {
		pid_t wp = fork();
		if (wp == 0) {
			for (unsigned i = w; i < n; i += pw)
				plain_run(exe, c->cmd, env);
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	double plain_secs = (double)(mono_ns() - pt0) / 1e9;
	qsort(seq, n, sizeof *seq, cmp_u64);
	qsort(plain, n, sizeof *plain, cmp_u64);
	double ps50 = (double)pct(plain, n, 50) / 1e6, ss50 = (double)pct(seq, n, 50) / 1e6;
	printf("%-28s %10s %10s\n", "runs of", "p50 ms", "p99 ms");
	printf("%-28s %10.3f %10.3f\n", "plain fork+exec", ps50, (double)pct(plain, n, 99) / 1e6);
	printf("%-28s %10.3f %10.3f\n", "sandboxed (box per run)", ss50, (double)pct(seq, n, 99) / 1e6);
	printf("ratio p50 sandboxed/plain: %.2f\n", ps50 > 0 ? ss50 / ps50 : 0);
	printf("parallel %u: %u runs in %.3f s = %.0f runs/s (plain fork+exec: %.0f runs/s)\n", par, n, secs,
	       secs > 0 ? n / secs : 0, plain_secs > 0 ? n / plain_secs : 0);
	printf("engine thread CPU per parallel run: %.0f us\n", engine_us);
	if (seq_failed || pb.failed)
		printf("non-clean runs: %u sequential, %u parallel\n", seq_failed, pb.failed);
	int paused_rc = c->pauses ? run_paused(c, sys, env, l, exe) : 0;
	free(seq);
	free(plain);
	loop_free(l);
	return seq_failed || pb.failed || paused_rc ? 1 : 0;
}

/* ---- benchmark with idle pauses (issue 17: a request after a pause can
 * meet kernel waits that back-to-back runs never see) ---- */

typedef struct paused_run {
	loop *l;
	bool done, failed;
	uint64_t setup_us, run_us, teardown_us;
} paused_run;

static void paused_done(void *arg, sbx_result *res)
{
	paused_run *p = arg;
	p->done = true;
	p->failed = res->status[0] != 0;
	p->setup_us = res->setup_us;
	p->run_us = res->run_us;
	p->teardown_us = res->teardown_us;
	sbx_result_free(res);
	loop_stop(p->l);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double median_ms(uint64_t *v, unsigned n, double unit)
{
	qsort(v, n, sizeof *v, cmp_u64);
	return n ? (double)v[(n - 1) / 2] / unit : 0;
}

/* For each pause: n rounds of (pause, one sandboxed run with its own box,
 * pause, one plain fork+exec); the medians side by side, so the sandbox's
 * pause penalty can be read against the machine's own (the plain one). */
static int run_paused(const cli *c, sbx_system *sys, char **env, loop *l, const char *exe)
{
	unsigned n = c->bench;
	uint64_t *sbx = calloc(n, sizeof *sbx), *plain = calloc(n, sizeof *plain);
	uint64_t *su = calloc(n, sizeof *su), *ru = calloc(n, sizeof *ru), *tu = calloc(n, sizeof *tu);
	if (!sbx || !plain || !su || !ru || !tu)
		return 1;
	printf("\n%-10s %14s %12s %14s %10s %10s %10s\n", "pause ms", "sandboxed p50", "plain p50",
	       "sandbox-plain", "setup p50", "run p50", "teardown");
	unsigned failed = 0;
	for (const char *p = c->pauses; *p; ) {
		char *end;
		uint64_t pause = strtoull(p, &end, 10);
		p = *end ? end + 1 : end;
		for (unsigned i = 0; i < n; i++) {
			sleep_ms(pause);
			char err[256];
			paused_run pr = { .l = l };
			uint64_t t0 = mono_ns();
			sbx_box *box = sbx_box_create(sys, 0, 0, err, sizeof err);
			sbx_spec spec = {
				.pkg_dir = c->root, .box = box, .slot = 0,
				.argv = (const char *const *)c->cmd, .envp = (const char *const *)env, .limits = c->lim,
			};
			sbx_callbacks cb = { .on_done = paused_done, .arg = &pr };
			if (!box || !sbx_start(sys, l, &spec, &cb, err, sizeof err)) {
				fprintf(stderr, "piston sandbox: bench: %s\n", err);
				return 1;
			}
			loop_run(l);
			sbx[i] = mono_ns() - t0;
			sbx_box_destroy(box);
			failed += pr.failed || !pr.done;
			su[i] = pr.setup_us;
			ru[i] = pr.run_us;
			tu[i] = pr.teardown_us;
			sleep_ms(pause);
			t0 = mono_ns();
			plain_run(exe, c->cmd, env);
			plain[i] = mono_ns() - t0;
		}
		double s50 = median_ms(sbx, n, 1e6), p50 = median_ms(plain, n, 1e6);
		printf("%-10" PRIu64 " %14.3f %12.3f %14.3f %10.3f %10.3f %10.3f\n", pause, s50, p50, s50 - p50,
		       median_ms(su, n, 1e3), median_ms(ru, n, 1e3), median_ms(tu, n, 1e3));
	}
	if (failed)
		printf("non-clean paused runs: %u\n", failed);
	free(sbx);
	free(plain);
	free(su);
	free(ru);
	free(tu);
	return failed ? 1 : 0;
}

static int run_cli(cli *c);

int cmd_sandbox(int argc, char **argv)
{
	if (config_load(1, argv) < 0)
		return 1;
	log_set_level(cfg.log_level);
	cli c = {0};
	int rc = parse_args(argc, argv, &c);
	if (rc)
		return rc > 0 ? 0 : 2;
	/* Strings of our own, not in the argument area the sandbox's init hides. */
	for (char **a = c.cmd; *a; a++)
		*a = strdup(*a);
	char *root = strdup(c.root);
	c.root = root;
	rc = run_cli(&c);
	for (char **a = c.cmd; *a; a++)
		free(*a);
	free(root);
	return rc;
}

static int run_cli(cli *cp)
{
	cli c = *cp;
	int rc;
	buf envtext = BUF_INIT;
	char **env = make_env(c.root, &envtext);
	unsigned slots = c.slot + 1;
	if (c.bench && c.parallel > slots)
		slots = c.parallel;
	char err[256];
	sbx_system *sys = sbx_system_init(slots, err, sizeof err);
	if (!env || !sys) {
		fprintf(stderr, "piston sandbox: %s\n", env ? err : "out of memory");
		free(env);
		buf_free(&envtext);
		return 1;
	}
	if (c.bench) {
		rc = run_bench(&c, sys, env);
		sbx_system_free(sys);
		free(env);
		buf_free(&envtext);
		return rc;
	}
	buf input = BUF_INIT;
	sbx_box *box = sbx_box_create(sys, c.slot, cfg.box_size, err, sizeof err);
	loop *l = loop_new();
	rc = 1;
	if (!box || !l) {
		fprintf(stderr, "piston sandbox: %s\n", box ? "out of memory" : err);
		goto out;
	}
	if (c.boxdir && fill_box(box, c.boxdir) < 0)
		goto out;
	if (c.stdin_path) {
		int fd = strcmp(c.stdin_path, "-") ? open(c.stdin_path, O_RDONLY | O_CLOEXEC) : 0;
		if (fd < 0 || !read_all(fd, &input)) {
			fprintf(stderr, "piston sandbox: %s: %s\n", c.stdin_path, strerror(errno));
			goto out;
		}
		if (fd > 0)
			close(fd);
	}
	one_run o = { .l = l };
	sbx_spec spec = {
		.pkg_dir = c.root, .box = box, .slot = c.slot,
		.argv = (const char *const *)c.cmd, .envp = (const char *const *)env,
		.stdin_data = input.data, .stdin_len = input.len, .limits = c.lim,
	};
	sbx_callbacks cb = { .on_done = one_done, .arg = &o };
	if (!sbx_start(sys, l, &spec, &cb, err, sizeof err)) {
		fprintf(stderr, "piston sandbox: %s\n", err);
		goto out;
	}
	loop_run(l);
	if (o.done) {
		print_result(&o.res);
		rc = 0;
	}
	sbx_result_free(&o.res);
out:
	sbx_box_destroy(box);
	if (l)
		loop_free(l);
	sbx_system_free(sys);
	buf_free(&input);
	free(env);
	buf_free(&envtext);
	return rc;
}
