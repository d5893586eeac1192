/*
 * The sandbox library as the job engine uses it: boxes across stages,
 * planted symlinks never followed by the engine, concurrent stages on one
 * loop, interactive stdin and signals, cancel, and the seccomp program's
 * architecture and x32 checks (run through a small classic-BPF evaluator).
 * Needs root (skips otherwise) and the busybox package (built here).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include "config.h"
#include "loop.h"
#include "sandbox.h"
#include "seccomp.h"
#include "t.h"

typedef struct stage {
	loop *l;
	sbx_result res;
	int done;
	int *pending;          /* stop the loop when it reaches 0 */
	size_t live_bytes;     /* bytes seen through on_output */
} stage;

static void on_output(void *arg, sbx_stream st, const char *d, size_t n)
{
	stage *s = arg;
	(void)st;
	(void)d;
	s->live_bytes += n;
}

static void on_done(void *arg, sbx_result *res)
{
	stage *s = arg;
	s->res = *res;
	s->done++;
	if (!s->pending || --*s->pending == 0)
		loop_stop(s->l);
}

static const char *pkg_dir;
static const char *const envp[] = { "PATH=/usr/bin:/bin", "HOME=/tmp", NULL };

static const sbx_limits default_limits = {
	.wall_ms = 20000, .cpu_ms = 10000, .memory_bytes = 256 << 20, .max_procs = 64,
	.max_open_files = 256, .max_file_size = 1 << 20, .output_max = 65536,
};

static sbx_run *start_with(sbx_system *sys, loop *l, sbx_box *box, unsigned slot, stage *s, const char *script,
                           bool interactive, const sbx_limits *lim)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	sbx_spec spec = {
		.pkg_dir = pkg_dir, .box = box, .slot = slot, .argv = argv, .envp = envp,
		.interactive = interactive, .limits = *lim,
	};
	memset(s, 0, sizeof *s);
	s->l = l;
	sbx_callbacks cb = { .on_output = on_output, .on_done = on_done, .arg = s };
	char err[256] = "";
	sbx_run *r = sbx_start(sys, l, &spec, &cb, err, sizeof err);
	CHECKF(r != NULL, "sbx_start: %s", err);
	return r;
}

static sbx_run *start(sbx_system *sys, loop *l, sbx_box *box, unsigned slot, stage *s, const char *script,
                      bool interactive)
{
	return start_with(sys, l, box, slot, s, script, interactive, &default_limits);
}

/* Run one stage to completion. */
static void run1(sbx_system *sys, loop *l, sbx_box *box, unsigned slot, stage *s, const char *script)
{
	if (start(sys, l, box, slot, s, script, false))
		loop_run(l);
}

static const char *out_of(const stage *s) { return s->res.out.data ? s->res.out.data : ""; }

/* ---- a classic-BPF evaluator for the seccomp program ---- */
static uint32_t bpf_eval(const seccomp_prog *p, const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0;
	for (unsigned pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->insns[pc];
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			memcpy(&a, (const char *)d + f->k, 4);
			break;
		case BPF_ALU | BPF_XOR | BPF_K:
			a ^= f->k;
			break;
		case BPF_ALU | BPF_OR | BPF_X:
			a |= x;
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & f->k) ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			return 0xdeadbeef;
		}
	}
	return 0xdeadbeef;
}

static void check_common(const seccomp_prog *p)
{
	struct seccomp_data d = { .nr = SYS_getpid, .arch = AUDIT_ARCH_X86_64 };
	CHECK(bpf_eval(p, &d) == SECCOMP_RET_ALLOW);
	d.arch = AUDIT_ARCH_I386;
	CHECK(bpf_eval(p, &d) == SECCOMP_RET_KILL_PROCESS);
	d.arch = AUDIT_ARCH_X86_64;
	d.nr = 0x40000000 | SYS_getpid;
	CHECK(bpf_eval(p, &d) == (SECCOMP_RET_ERRNO | EPERM));
	d.nr = SYS_ptrace;
	CHECK(bpf_eval(p, &d) == (SECCOMP_RET_ERRNO | EPERM));
	d.nr = SYS_umount2;
	CHECK(bpf_eval(p, &d) == (SECCOMP_RET_ERRNO | EPERM));
	d.nr = SYS_clone;
	d.args[0] = SIGCHLD;
	CHECK(bpf_eval(p, &d) == SECCOMP_RET_ALLOW);
	d.args[0] = SIGCHLD | 0x10000000 /* CLONE_NEWUSER */;
	CHECK(bpf_eval(p, &d) == (SECCOMP_RET_ERRNO | EPERM));
	d.nr = SYS_socket;
	d.args[0] = 40;  /* AF_VSOCK */
	CHECK(bpf_eval(p, &d) == (SECCOMP_RET_ERRNO | EAFNOSUPPORT));
	d.args[0] = 1;   /* AF_UNIX */
	CHECK(bpf_eval(p, &d) == SECCOMP_RET_ALLOW);
}

/* nr with the given sixth argument (and first argument a0). */
static uint32_t eval_call(const seccomp_prog *p, int nr, uint64_t a0, uint64_t a5)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64 };
	d.args[0] = a0;
	d.args[5] = a5;
	return bpf_eval(p, &d);
}

static void test_seccomp_program(void)
{
	seccomp_prog p;
	CHECK(seccomp_build(&p, NULL) == 0);
	check_common(&p);
	const int gated[] = { SYS_mount, SYS_umount2, SYS_pivot_root, SYS_setns, SYS_chroot, SYS_sethostname, SYS_unshare,
	                      428, 429, 430, 431, 432, 442 };
	for (size_t i = 0; i < sizeof gated / sizeof gated[0]; i++)
		CHECKF(eval_call(&p, gated[i], 0, 0) == (SECCOMP_RET_ERRNO | EPERM), "ungated %d", gated[i]);
	CHECK(eval_call(&p, 435, 0, 0) == (SECCOMP_RET_ERRNO | ENOSYS));   /* clone3 */

	const uint64_t key = 0x8badf00ddeadbeefull;
	CHECK(seccomp_build(&p, &key) == 0);
	check_common(&p);
	for (size_t i = 0; i < sizeof gated / sizeof gated[0]; i++) {
		CHECKF(eval_call(&p, gated[i], 0, key) == SECCOMP_RET_ALLOW, "gated %d with the key", gated[i]);
		CHECKF(eval_call(&p, gated[i], 0, 0) == (SECCOMP_RET_ERRNO | EPERM), "gated %d without", gated[i]);
		/* each half of the key alone is not enough */
		CHECK(eval_call(&p, gated[i], 0, key & 0xffffffffu) == (SECCOMP_RET_ERRNO | EPERM));
		CHECK(eval_call(&p, gated[i], 0, key & ~0xffffffffull) == (SECCOMP_RET_ERRNO | EPERM));
		CHECK(eval_call(&p, gated[i], 0, key ^ 1) == (SECCOMP_RET_ERRNO | EPERM));
	}
	CHECK(eval_call(&p, 435, 0, key) == SECCOMP_RET_ALLOW);
	CHECK(eval_call(&p, 435, 0, key ^ (1ull << 63)) == (SECCOMP_RET_ERRNO | ENOSYS));
	/* a user namespace never, key or not */
	CHECK(eval_call(&p, SYS_unshare, 0x10000000, key) == (SECCOMP_RET_ERRNO | EPERM));
	CHECK(eval_call(&p, SYS_unshare, 0x20000 /* CLONE_NEWNS */, key) == SECCOMP_RET_ALLOW);
	/* still denied outright: not gated */
	CHECK(eval_call(&p, SYS_ptrace, 0, key) == (SECCOMP_RET_ERRNO | EPERM));
	CHECK(eval_call(&p, 433 /* fspick */, 0, key) == (SECCOMP_RET_ERRNO | EPERM));
	CHECK(eval_call(&p, SYS_bpf, 0, key) == (SECCOMP_RET_ERRNO | EPERM));
}

/* The gated program in the kernel, in a child: the key opens exactly the
 * gated calls. Needs root (CAP_SYS_ADMIN to install without no_new_privs
 * and for the unshare that passes). */
static void test_seccomp_kernel(void)
{
	const uint64_t key = 0x0123456789abcdefull;
	seccomp_prog p;
	CHECK(seccomp_build(&p, &key) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		if (seccomp_install(&p) != 0)
			_exit(100);
		errno = 0;
		if (syscall(SYS_unshare, CLONE_NEWUTS, 0, 0, 0, 0, 0) != -1 || errno != EPERM)
			bad |= 1;
		if (syscall(SYS_unshare, CLONE_NEWUTS, 0, 0, 0, 0, key ^ 0x10) != -1 || errno != EPERM)
			bad |= 2;
		if (syscall(SYS_unshare, CLONE_NEWUTS, 0, 0, 0, 0, key) != 0)
			bad |= 4;
		if (syscall(SYS_unshare, CLONE_NEWUSER, 0, 0, 0, 0, key) != -1 || errno != EPERM)
			bad |= 8;
		if (syscall(SYS_sethostname, "x", 1, 0, 0, 0, 0) != -1 || errno != EPERM)
			bad |= 16;
		if (syscall(SYS_sethostname, "gated", 5, 0, 0, 0, key) != 0)
			bad |= 32;
		struct clone_args ca = { .exit_signal = SIGCHLD };
		if (syscall(435, &ca, sizeof ca, 0, 0, 0, 0) != -1 || errno != ENOSYS)
			bad |= 64;
		if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0, 0, key) != -1 || errno != EPERM)
			bad |= 128;
		_exit(bad);
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gated filter in the kernel: status %#x", st);
}

static void test_box_paths(sbx_system *sys)
{
	char err[256];
	sbx_box *box = sbx_box_create(sys, 0, 1 << 20, err, sizeof err);
	CHECKF(box != NULL, "%s", err);
	if (!box)
		return;
	CHECK(sbx_box_write(box, "/etc/x", "x", 1, 0644) < 0 && errno == EINVAL);
	CHECK(sbx_box_write(box, "../x", "x", 1, 0644) < 0 && errno == EINVAL);
	CHECK(sbx_box_write(box, "a/../../x", "x", 1, 0644) < 0 && errno == EINVAL);
	CHECK(sbx_box_write(box, "", "x", 1, 0644) < 0 && errno == EINVAL);
	CHECK(sbx_box_write(box, "a//b", "x", 1, 0644) < 0 && errno == EINVAL);
	CHECK(sbx_box_write(box, "dir/sub/file.txt", "hello", 5, 0644) == 0);
	CHECK(sbx_box_write(box, "dir/sub/file.txt", "hey", 3, 0644) == 0);   /* overwrite */
	size_t bign = 2u << 20;          /* 2 MB into a 1 MB box */
	char *big = calloc(1, bign);
	CHECK(big && sbx_box_write(box, "big", big, bign, 0644) < 0 && errno == ENOSPC);
	free(big);
	sbx_box_destroy(box);
}

int main(int argc, char **argv)
{
	test_seccomp_program();
	if (geteuid() != 0) {
		printf("%d passed, %d failed, 1 skipped (the sandbox needs root)\n", t_passed, t_failed);
		return t_failed != 0;
	}
	test_seccomp_kernel();
	config_defaults(&cfg);
	cfg.runner_uid_min = cfg.runner_gid_min = 1451;
	char tmpl[] = "/tmp/sbxunit.XXXXXX";
	char *tmp = mkdtemp(tmpl);
	char cmd[256], pkg[128], target[160];
	snprintf(pkg, sizeof pkg, "%s/pkg", tmp);
	snprintf(cmd, sizeof cmd, "tools/mk-busybox-pkg.sh %s", pkg);
	if (!tmp || system(cmd) != 0) {
		printf("cannot build the busybox package\n0 passed, 1 failed\n");
		return 1;
	}
	pkg_dir = pkg;
	/* A host file the job will try to make the engine write through. */
	snprintf(target, sizeof target, "%s/host-secret", tmp);
	int tfd = open(target, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(tfd >= 0 && write(tfd, "original", 8) == 8);
	close(tfd);

	char err[256] = "";
	sbx_system *sys = sbx_system_init(4, err, sizeof err);
	CHECKF(sys != NULL, "sbx_system_init: %s", err);
	loop *l = loop_new();
	if (!sys || !l)
		return t_done();
	CHECK(sbx_slot_uid(sys, 2) == 1453 && sbx_slot_gid(sys, 3) == 1454);
	test_box_paths(sys);

	sbx_box *box = sbx_box_create(sys, 0, 4 << 20, err, sizeof err);
	CHECKF(box != NULL, "%s", err);
	CHECK(sbx_box_write(box, "src/main.sh", "echo from-box\n", 14, 0644) == 0);
	stage s;
	/* The box persists across stages; /tmp does not. */
	run1(sys, l, box, 0, &s, "sh src/main.sh; echo made > out.txt; echo t > /tmp/t; ls -ln src/main.sh | cut -c1-30");
	CHECKF(s.done == 1 && strstr(out_of(&s), "from-box") && !s.res.status[0], "%s %s", out_of(&s), s.res.message);
	CHECKF(strstr(out_of(&s), "1451") != NULL, "box files belong to the slot: %s", out_of(&s));
	CHECK(s.live_bytes == s.res.out.len + s.res.err.len);
	sbx_result_free(&s.res);
	run1(sys, l, box, 0, &s, "cat out.txt; cat /tmp/t 2>&1 | grep -c 'No such'");
	CHECKF(!strcmp(out_of(&s), "made\n1\n"), "box persists, /tmp is fresh: %s", out_of(&s));
	sbx_result_free(&s.res);

	/* Plant links in the box; the engine's writes must not follow them. */
	snprintf(cmd, sizeof cmd, "ln -s %s link; ln -s %s dirlink; ln -s /proc/self/root/etc etclink; mkfifo fifo",
	         target, tmp);
	run1(sys, l, box, 0, &s, cmd);
	sbx_result_free(&s.res);
	CHECK(sbx_box_write(box, "link", "pwned", 5, 0644) < 0);
	CHECK(sbx_box_write(box, "dirlink/host-secret", "pwned", 5, 0644) < 0);
	CHECK(sbx_box_write(box, "dirlink/new-file", "pwned", 5, 0644) < 0);
	CHECK(sbx_box_write(box, "etclink/passwd", "pwned", 5, 0644) < 0);
	CHECK(sbx_box_write(box, "fifo", "blocked?", 8, 0644) < 0);      /* returns, does not hang */
	char back[16] = "";
	tfd = open(target, O_RDONLY);
	CHECK(tfd >= 0 && read(tfd, back, sizeof back) == 8 && !memcmp(back, "original", 8));
	close(tfd);
	snprintf(cmd, sizeof cmd, "%s/new-file", tmp);
	CHECK(access(cmd, F_OK) < 0);

	/* Four stages at once on one loop, each in its own slot. */
	stage many[4];
	int pending = 4;
	sbx_box *boxes[4];
	for (unsigned i = 0; i < 4; i++) {
		boxes[i] = sbx_box_create(sys, i, 1 << 20, err, sizeof err);
		if (start(sys, l, boxes[i], i, &many[i], "sleep 0.3; id -u", false))
			many[i].pending = &pending;
		else
			pending--;
	}
	uint64_t t0 = mono_ns();
	if (pending)
		loop_run(l);
	uint64_t ms = (mono_ns() - t0) / 1000000u;
	for (unsigned i = 0; i < 4; i++) {
		char want[16];
		snprintf(want, sizeof want, "%u\n", 1451 + i);
		CHECKF(many[i].done == 1 && !strcmp(out_of(&many[i]), want), "slot %u: %s", i, out_of(&many[i]));
		sbx_result_free(&many[i].res);
		sbx_box_destroy(boxes[i]);
	}
	CHECKF(ms < 5000, "concurrent stages overlap (%llu ms)", (unsigned long long)ms);

	/* Interactive: stdin written live, a signal reaches the program. */
	sbx_run *r = start(sys, l, box, 1, &s, "trap 'echo got-usr1; exit 7' USR1; read line; echo \"read:$line\"; "
	                                        "while :; do sleep 0.05; done", true);
	if (r) {
		CHECK(sbx_write_stdin(r, "hello\n", 6) == 0);
		usleep(300000);
		CHECK(sbx_signal(r, SIGUSR1) == 0);
		loop_run(l);
		CHECKF(s.done == 1 && s.res.exited && s.res.code == 7, "code %d status %s", s.res.code, s.res.status);
		CHECKF(strstr(out_of(&s), "read:hello") && strstr(out_of(&s), "got-usr1"), "%s", out_of(&s));
		sbx_result_free(&s.res);
	}

	/* Interactive input larger than a pipe is queued, then EOF after it. */
	r = start(sys, l, box, 1, &s, "wc -c", true);
	if (r) {
		size_t bign = 200000;
		char *big = malloc(bign);
		memset(big, 'a', bign);
		CHECK(sbx_write_stdin(r, big, bign / 2) == 0 && sbx_write_stdin(r, big, bign / 2) == 0);
		free(big);
		sbx_close_stdin(r);
		loop_run(l);
		CHECKF(s.done == 1 && !strcmp(out_of(&s), "200000\n"), "%s %s", out_of(&s), s.res.message);
		sbx_result_free(&s.res);
	}

	/* Limits change between stages of one slot: each stage gets its own. */
	sbx_limits tight = default_limits;
	tight.memory_bytes = 16 << 20;
	tight.max_procs = 4;
	const char *hog = "dd if=/dev/zero bs=48M count=1 of=/dev/null && echo survived";
	if (start_with(sys, l, box, 3, &s, hog, false, &tight))
		loop_run(l);
	CHECKF(!strcmp(s.res.status, "EL"), "tight memory: %s %s", s.res.status, out_of(&s));
	sbx_result_free(&s.res);
	if (start_with(sys, l, box, 3, &s, hog, false, &default_limits))
		loop_run(l);
	CHECKF(!s.res.status[0] && strstr(out_of(&s), "survived"), "relaxed memory: %s %s", s.res.status, s.res.message);
	sbx_result_free(&s.res);
	if (start_with(sys, l, box, 3, &s, "for i in 1 2 3 4 5 6; do sleep 1 & done; wait; echo ok", false, &tight))
		loop_run(l);
	CHECKF(strstr(s.res.err.data ? s.res.err.data : "", "fork") != NULL, "tight pids: %s", out_of(&s));
	sbx_result_free(&s.res);

	/* Cancel: no callback, nothing left. */
	r = start(sys, l, box, 2, &s, "sleep 100", false);
	if (r) {
		sbx_cancel(r);
		CHECK(s.done == 0);
	}
	snprintf(cmd, sizeof cmd, "pgrep -u 1451,1452,1453,1454 >/dev/null");
	CHECK(system(cmd) != 0);

	/* The box survives its stages; destroying it frees everything. */
	sbx_box_destroy(box);
	sbx_system_free(sys);
	loop_free(l);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	CHECK(system(cmd) == 0);
	return t_done();
}
