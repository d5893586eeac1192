/* fdtable_reserve: the table is grown (the kernel's FDSize says so), nothing
 * stays open, and the size is capped by RLIMIT_NOFILE. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdtable.h"
#include "t.h"

static long fdsize(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "FDSize:", 7))
			v = strtol(line + 7, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int open_count(void)
{
	int n = 0;
	for (int fd = 0; fd < 8192; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

int main(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 3000 && rl.rlim_max >= 3000) {
		rl.rlim_cur = 3000;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	long before = fdsize();
	int open_before = open_count();
	CHECKF(before > 0 && before < 2048, "FDSize %ld at start", before);
	unsigned got = fdtable_reserve(2048);
	long after = fdsize();
	CHECKF(got == 2048 && after >= 2048, "reserve 2048: got %u, FDSize %ld", got, after);
	CHECKF(open_count() == open_before, "nothing left open (%d, was %d)", open_count(), open_before);
	/* Capped by the limit, in a child (the limit is per process). */
	pid_t p = fork();
	if (p == 0) {
		struct rlimit low = { 100, rl.rlim_max };
		setrlimit(RLIMIT_NOFILE, &low);
		_exit(fdtable_reserve(100000) == 100 ? 0 : 1);
	}
	int st = 0;
	CHECKF(p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0, "capped at RLIMIT_NOFILE");
	return t_done();
}
