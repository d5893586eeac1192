/* Replays saved inputs through a harness without libFuzzer's driver: each
 * file (or every file in each directory argument) runs in a child process, so
 * a crash or sanitizer report counts as one failure and the rest still run.
 * Prints "ok NAME" / "FAIL NAME", then "N passed, N failed". */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

static int passed, failed;

static void replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("FAIL %s: cannot open\n", path);
		failed++;
		return;
	}
	size_t cap = 1 << 16, len = 0, n;
	unsigned char *data = malloc(cap);
	while ((n = fread(data + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap)
			data = realloc(data, cap *= 2);
	}
	fclose(f);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		LLVMFuzzerTestOneInput(data, len);
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	free(data);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok %s\n", path);
		passed++;
	} else {
		printf("FAIL %s (status %d)\n", path, status);
		failed++;
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			replay(argv[i]);
			continue;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			replay(path);
		}
		closedir(d);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
