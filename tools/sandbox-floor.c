/*
 * sandbox-floor: the least any sandbox with the isolation must do per
 * run, with nothing else -- the floor under `piston sandbox --bench`.
 *
 *   sandbox-floor N WORKERS PROGRAM
 *
 * Each of WORKERS processes first moves into a private mount namespace whose
 * root is a small tmpfs holding PROGRAM (as /bin/prog) and empty /proc, /tmp
 * and /box. Then, N times in all: a vfork-style clone into new PID, IPC and
 * UTS namespaces; the child makes its own mount namespace with a fresh tmpfs
 * on /tmp and on /box and a fresh /proc, and execs /bin/prog; the worker
 * waits. No cgroups, network namespace, uid switch, seccomp, read-only
 * package tree, /dev, output capture or engine: each of those only adds.
 * Prints runs/s for namespaces only and for namespaces with the mounts.
 * Needs root.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define ROOT "/tmp/sandbox-floor-root"

static char child_stack[64 << 10] __attribute__((aligned(16)));

struct run {
	const char *exe;
	int with_mounts;
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int child_main(void *arg)
{
	const struct run *r = arg;
	char *argv[] = { "true", NULL }, *envp[] = { NULL };
	if (r->with_mounts &&
	    (unshare(CLONE_NEWNS) != 0 || mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m") != 0 ||
	     mount("tmpfs", "/box", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m") != 0 ||
	     mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0))
		_exit(126);
	execve(r->exe, argv, envp);
	_exit(127);
}

/* A private mount namespace rooted on a small tmpfs with the program. */
static int enter_small_root(const char *program)
{
	char bin[sizeof ROOT "/bin/prog"];
	snprintf(bin, sizeof bin, "%s/bin/prog", ROOT);
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	mkdir(ROOT, 0755);
	if (mount("tmpfs", ROOT, "tmpfs", 0, "size=4m") != 0)
		return -1;
	const char *dirs[] = { ROOT "/proc", ROOT "/tmp", ROOT "/box", ROOT "/bin" };
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (mkdir(dirs[i], 0755) != 0)
			return -1;
	int fd = open(bin, O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	if (fd < 0)
		return -1;
	close(fd);
	if (mount(program, bin, NULL, MS_BIND, NULL) != 0 || chdir(ROOT) != 0 ||
	    syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
		return -1;
	return 0;
}

static double measure(int n, int workers, const char *program, int with_mounts)
{
	double t0 = now_s();
	for (int w = 0; w < workers; w++) {
		pid_t p = fork();
		if (p < 0)
			return -1;
		if (p > 0)
			continue;
		struct run r = { program, with_mounts };
		if (with_mounts) {
			if (enter_small_root(program) != 0)
				_exit(2);
			r.exe = "/bin/prog";
		}
		for (int i = w; i < n; i += workers) {
			int flags = CLONE_VM | CLONE_VFORK | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
			int st;
			pid_t c = clone(child_main, child_stack + sizeof child_stack, flags, &r);
			if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				_exit(3);
		}
		_exit(0);
	}
	int failed = 0, st;
	while (wait(&st) > 0)
		failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	return failed ? -1 : n / (now_s() - t0);
}

int main(int argc, char **argv)
{
	if (argc != 4 || atoi(argv[1]) <= 0 || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: sandbox-floor N WORKERS PROGRAM\n");
		return 2;
	}
	int n = atoi(argv[1]), workers = atoi(argv[2]);
	double ns_only = measure(n, workers, argv[3], 0);
	double with_mounts = measure(n, workers, argv[3], 1);
	rmdir(ROOT);
	if (ns_only < 0 || with_mounts < 0) {
		fprintf(stderr, "sandbox-floor: a run failed (root needed)\n");
		return 1;
	}
	printf("floor, %d workers: new PID/IPC/UTS namespaces + exec %.0f runs/s; "
	       "+ own mount namespace with fresh /tmp, /box, /proc %.0f runs/s\n", workers, ns_only, with_mounts);
	return 0;
}
