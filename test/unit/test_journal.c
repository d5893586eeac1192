/* journal: records survive a reopen; cut and corrupt records are skipped
 * (the ones after a corrupt record still replay); a cut tail is truncated
 * before new appends; compaction replaces the file whole. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "t.h"

typedef struct seen {
	int n;
	char recs[16][64];
} seen;

static void on_rec(void *ctx, const char *data, size_t len)
{
	seen *s = ctx;
	if (s->n < 16)
		snprintf(s->recs[s->n], 64, "%.*s", (int)len, data);
	s->n++;
}

static journal *reopen(const char *path, seen *s)
{
	char err[256];
	memset(s, 0, sizeof *s);
	journal *j = journal_open(path, on_rec, s, err, sizeof err);
	CHECKF(j != NULL, "%s", err);
	return j;
}

static off_t fsize(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

int main(void)
{
	log_set_level(LOG_ERROR);
	char dir[] = "/tmp/journal-test-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char path[256];
	snprintf(path, sizeof path, "%s/sub/journal", dir);
	seen s;
	journal *j = reopen(path, &s);
	CHECK(s.n == 0 && journal_size(j) == 0);
	CHECK(journal_append(j, "one", 3, true) == 0);
	CHECK(journal_append(j, "two", 3, false) == 0);
	CHECK(journal_append(j, "", 0, true) == 0);
	CHECK(journal_append(j, "three", 5, true) == 0);
	CHECK(journal_size(j) == 4 * 12 + 11 && fsize(path) == 59);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 4 && !strcmp(s.recs[0], "one") && !strcmp(s.recs[1], "two") && !strcmp(s.recs[2], "") &&
	      !strcmp(s.recs[3], "three"));
	journal_close(j);

	/* corrupt one byte of "two": it is skipped, the rest replay */
	int fd = open(path, O_RDWR);
	CHECK(pwrite(fd, "X", 1, 15 + 12) == 1);
	close(fd);
	j = reopen(path, &s);
	CHECK(s.n == 3 && !strcmp(s.recs[0], "one") && !strcmp(s.recs[1], "") && !strcmp(s.recs[2], "three"));
	journal_close(j);

	/* a cut tail: half of a record; then an append goes after the good part */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "PJR1\x20\0\0\0abcdabcd", 16) == 16);
	close(fd);
	off_t before = fsize(path);
	j = reopen(path, &s);
	CHECK(s.n == 3);
	CHECK(fsize(path) == before - 16 && journal_size(j) == (uint64_t)(before - 16));
	CHECK(journal_append(j, "four", 4, true) == 0);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 4 && !strcmp(s.recs[3], "four"));
	journal_close(j);

	/* garbage in front of good records, and a huge length field */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "PJR1\xff\xff\xff\xff", 8) == 8);
	close(fd);
	j = reopen(path, &s);
	CHECK(s.n == 4);
	CHECK(journal_append(j, "five", 4, true) == 0);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 5 && !strcmp(s.recs[4], "five"));

	/* compaction: only what is added survives */
	CHECK(journal_rewrite_begin(j) == 0);
	CHECK(journal_rewrite_add(j, "kept", 4) == 0);
	CHECK(journal_rewrite_commit(j) == 0);
	CHECK(journal_size(j) == 16 && fsize(path) == 16);
	CHECK(journal_append(j, "after", 5, true) == 0);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 2 && !strcmp(s.recs[0], "kept") && !strcmp(s.recs[1], "after"));
	/* an aborted compaction leaves the journal as it was */
	CHECK(journal_rewrite_begin(j) == 0);
	CHECK(journal_rewrite_add(j, "lost", 4) == 0);
	journal_rewrite_abort(j);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 2);
	journal_close(j);

	/* every truncation of a good journal replays a prefix, never crashes */
	unsigned char *all = NULL;
	fd = open(path, O_RDONLY);
	off_t n = fsize(path);
	all = malloc((size_t)n);
	CHECK(read(fd, all, (size_t)n) == n);
	close(fd);
	for (off_t cut = 0; cut <= n; cut++) {
		fd = open(path, O_WRONLY | O_TRUNC);
		CHECK(write(fd, all, (size_t)cut) == cut);
		close(fd);
		j = reopen(path, &s);
		CHECKF(s.n == (cut >= n ? 2 : cut >= 16 ? 1 : 0), "cut %lld: %d records", (long long)cut, s.n);
		journal_close(j);
	}
	free(all);
	CHECK(journal_crc32("123456789", 9) == 0xcbf43926u);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return t_done();
}
