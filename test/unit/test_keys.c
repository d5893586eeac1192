/* keys: keys file parsing, lookup by hash, Authorization forms, token
 * bucket arithmetic, per-address limiter bounds, keygen output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "keys.h"
#include "sha256.h"
#include "t.h"

static char line_buf[1024];

static const char *make_line(const char *key, const char *rest)
{
	char hex[65];
	sha256_hex(key, strlen(key), hex);
	snprintf(line_buf, sizeof line_buf, "%s %s\n", hex, rest);
	return line_buf;
}

static void test_parse(void)
{
	char err[256] = "";
	char text[4096] = "# comment\n\n   \n";
	strcat(text, make_line("alpha-key", "alice user 10/s 20"));
	strcat(text, make_line("beta-key", "bob\tadmin 5 7\r"));
	keys_set *ks = keys_parse(text, strlen(text), err, sizeof err);
	CHECKF(ks != NULL, "%s", err);
	CHECK(keys_count(ks) == 2);
	key_entry *a = keys_lookup(ks, "alpha-key", 9);
	CHECK(a && !strcmp(a->name, "alice") && a->role == KEY_ROLE_USER && a->rate == 10 && a->burst == 20);
	key_entry *b = keys_lookup(ks, "beta-key", 8);
	CHECK(b && !strcmp(b->name, "bob") && b->role == KEY_ROLE_ADMIN && b->rate == 5 && b->burst == 7);
	CHECK(keys_lookup(ks, "gamma-key", 9) == NULL);
	CHECK(keys_lookup(ks, "alpha-ke", 8) == NULL);
	CHECK(keys_lookup(ks, "", 0) == NULL);

	/* carry-over of buckets on reload */
	tb_verdict v;
	for (int i = 0; i < 20; i++)
		tb_take(&a->bucket, a->rate, a->burst, 1000, &v);
	CHECK(v.allowed && v.remaining == 0);
	keys_set *ks2 = keys_parse(text, strlen(text), err, sizeof err);
	keys_inherit_buckets(ks2, ks);
	key_entry *a2 = keys_lookup(ks2, "alpha-key", 9);
	tb_take(&a2->bucket, a2->rate, a2->burst, 1000, &v);
	CHECK(!v.allowed);
	keys_free(ks2);
	keys_free(ks);

	static const char *bad[] = {
		"abc alice user 10/s 20\n",
		"zz alice\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		CHECKF(keys_parse(bad[i], strlen(bad[i]), err, sizeof err) == NULL, "bad[%zu] accepted", i);
		CHECKF(strstr(err, "line 1") != NULL, "err=%s", err);
	}
	static const char *bad_rest[] = {
		"alice root 10/s 20", "alice user 0/s 20", "alice user 10/m 20", "alice user 10/s 0",
		"alice user 10/s", "alice user 10/s 20 extra", "al ice user 10/s 20 x", "a/b user 1 1",
		"alice user 99999999999/s 1", "alice user -1/s 1", "alice USER 1 1",
	};
	for (size_t i = 0; i < sizeof bad_rest / sizeof bad_rest[0]; i++) {
		char t[2048] = "# header\n";
		strcat(t, make_line("k", bad_rest[i]));
		err[0] = 0;
		keys_set *x = keys_parse(t, strlen(t), err, sizeof err);
		CHECKF(x == NULL, "accepted: %s", bad_rest[i]);
		keys_free(x);
		CHECKF(strstr(err, "line 2") != NULL, "err=%s for %s", err, bad_rest[i]);
	}
	/* duplicate key hash */
	char dup[4096] = "";
	strcat(dup, make_line("same", "a user 1 1"));
	strcat(dup, make_line("same", "b user 1 1"));
	CHECK(keys_parse(dup, strlen(dup), err, sizeof err) == NULL);
	/* NUL inside */
	char nul[200];
	snprintf(nul, sizeof nul, "%s", make_line("x", "a user 1 1"));
	nul[70] = 0;
	CHECK(keys_parse(nul, strlen(line_buf), err, sizeof err) == NULL);
	/* empty file: valid, no keys */
	keys_set *e = keys_parse("", 0, err, sizeof err);
	CHECK(e && keys_count(e) == 0 && keys_lookup(e, "x", 1) == NULL);
	keys_free(e);
	CHECK(keys_load("/nonexistent/keys", err, sizeof err) == NULL && strstr(err, "/nonexistent/keys"));
}

static void test_authorization(void)
{
	const char *k;
	size_t n;
	CHECK(keys_from_authorization("Bearer abc", 10, &k, &n) && n == 3 && !memcmp(k, "abc", 3));
	CHECK(keys_from_authorization("bearer   abc  ", 14, &k, &n) && n == 3 && !memcmp(k, "abc", 3));
	CHECK(keys_from_authorization("abc", 3, &k, &n) && n == 3 && !memcmp(k, "abc", 3));
	CHECK(keys_from_authorization("  abc", 5, &k, &n) && n == 3);
	CHECK(keys_from_authorization("Bearer", 6, &k, &n) && n == 6);   /* a bare key named Bearer */
	CHECK(!keys_from_authorization("", 0, &k, &n));
	CHECK(!keys_from_authorization("Basic a b", 9, &k, &n));
}

static void test_bucket(void)
{
	tbucket b = {0};
	tb_verdict v;
	/* rate 2/s burst 5: five immediately, then one per 500 ms */
	int allowed = 0;
	for (int i = 0; i < 8; i++) {
		tb_take(&b, 2, 5, 10000, &v);
		allowed += v.allowed;
	}
	CHECK(allowed == 5);
	CHECK(!v.allowed && v.remaining == 0 && v.limit == 5 && v.retry_after_s == 1 && v.reset_s == 3);
	tb_take(&b, 2, 5, 10499, &v);
	CHECK(!v.allowed);
	tb_take(&b, 2, 5, 10500, &v);
	CHECK(v.allowed && v.remaining == 0);
	tb_take(&b, 2, 5, 10500, &v);
	CHECK(!v.allowed);
	/* a long pause refills only up to the burst */
	tb_take(&b, 2, 5, 100000, &v);
	CHECK(v.allowed && v.remaining == 4 && v.reset_s == 1);
	/* time going backwards never adds tokens */
	tbucket c = {0};
	tb_take(&c, 1, 1, 5000, &v);
	CHECK(v.allowed);
	tb_take(&c, 1, 1, 4000, &v);
	CHECK(!v.allowed && v.retry_after_s == 1);
	/* slow rate: Retry-After rounds up to whole seconds */
	tbucket d = {0};
	tb_take(&d, 1, 1, 0, &v);
	tb_take(&d, 1, 1, 200, &v);
	CHECK(!v.allowed && v.retry_after_s == 1);
	/* exact count over a window: burst + floor(window*rate) */
	tbucket e = {0};
	allowed = 0;
	for (uint64_t t = 0; t <= 3000; t += 10) {
		tb_take(&e, 10, 4, 1000 + t, &v);
		allowed += v.allowed;
	}
	CHECKF(allowed == 4 + 30, "allowed=%d", allowed);
	char h[256];
	size_t hl = tb_format_headers(&v, h, sizeof h);
	CHECK(hl == strlen(h) && strstr(h, "RateLimit-Limit: 4\r\n") && strstr(h, "RateLimit-Remaining: "));
	tb_verdict no = {.allowed = false, .limit = 3, .remaining = 0, .reset_s = 2, .retry_after_s = 1};
	tb_format_headers(&no, h, sizeof h);
	CHECK(strstr(h, "Retry-After: 1\r\n") != NULL);
	CHECK(tb_format_headers(&no, h, 10) == 0);

	/* n tokens at once (a request with n tests): rate 10/s, burst 20 */
	tbucket f = {0};
	tb_take_n(&f, 10, 20, 0, 15, &v);
	CHECK(v.allowed && v.remaining == 5);
	tb_take_n(&f, 10, 20, 0, 6, &v);
	CHECK(!v.allowed && v.remaining == 5 && v.retry_after_s == 1);
	tb_take_n(&f, 10, 20, 100, 6, &v);   /* +1 token */
	CHECK(v.allowed && v.remaining == 0);
	/* dearer than the burst: waits for a full bucket, then owes the rest */
	tb_take_n(&f, 10, 20, 1000, 50, &v);
	CHECK(!v.allowed && v.retry_after_s == 2);   /* 10 tokens in, 20 needed */
	tb_take_n(&f, 10, 20, 2100, 50, &v);
	CHECK(v.allowed && v.remaining == 0);          /* 30 owed now */
	tb_take_n(&f, 10, 20, 4100, 1, &v);
	CHECKF(!v.allowed && v.retry_after_s == 2, "retry %u", v.retry_after_s);   /* 10 still owed */
	tb_take_n(&f, 10, 20, 5100, 1, &v);
	CHECK(!v.allowed);                             /* debt paid, bucket empty */
	tb_take_n(&f, 10, 20, 5200, 1, &v);
	CHECK(v.allowed && v.remaining == 0);
	/* over 10 s at 10/s plus the burst: 50 + 50 + ... never more than 120 tokens */
	tbucket g = {0};
	uint64_t taken = 0;
	for (uint64_t t = 0; t <= 10000; t += 50) {
		tb_take_n(&g, 10, 20, t, 50, &v);
		taken += v.allowed ? 50 : 0;
	}
	CHECKF(taken <= 20 + 100 + 50 && taken >= 100, "taken=%llu", (unsigned long long)taken);
	tb_take_n(&g, 10, 20, 10000, 0, &v);   /* 0 counts as 1 */
	CHECK(v.limit == 20);
}

static void test_addr_limiter(void)
{
	addr_limiter *al = addr_limiter_new(1, 2);
	tb_verdict v;
	addr_limiter_take(al, "10.0.0.1", 0, &v);
	CHECK(v.allowed);
	addr_limiter_take(al, "10.0.0.1", 0, &v);
	CHECK(v.allowed);
	addr_limiter_take(al, "10.0.0.1", 0, &v);
	CHECK(!v.allowed);
	addr_limiter_take(al, "10.0.0.2", 0, &v);
	CHECK(v.allowed);
	/* many addresses at once: the table grows but stays bounded */
	char a[64];
	for (int i = 0; i < 300000; i++) {
		snprintf(a, sizeof a, "fd00::%x", i);
		addr_limiter_take(al, a, 1, &v);
	}
	CHECKF(addr_limiter_size(al) <= (1u << 17), "size=%zu", addr_limiter_size(al));
	/* everything idle later: entries are dropped when room is needed */
	for (int i = 0; i < 1000; i++) {
		snprintf(a, sizeof a, "192.168.%d.%d", i / 256, i % 256);
		addr_limiter_take(al, a, 1000000, &v);
		CHECK(v.allowed);
	}
	CHECKF(addr_limiter_size(al) < 300000, "size=%zu", addr_limiter_size(al));
	addr_limiter_take(al, "", 1000000, &v);
	CHECK(v.allowed);
	addr_limiter_free(al);
}

static void test_keygen(void)
{
	int fds[2];
	if (pipe(fds) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		char *argv[] = {"keygen", "carol", "--role", "admin", "--rate", "3/s", "--burst=9", NULL};
		_exit(keys_keygen_main(7, argv));
	}
	close(fds[1]);
	char out[512] = "";
	size_t n = 0;
	ssize_t r;
	while ((r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *nl = strchr(out, '\n');
	CHECK(nl != NULL);
	if (!nl)
		return;
	*nl = 0;
	const char *key = out, *line = nl + 1;
	CHECK(strlen(key) >= 32);
	char err[256];
	keys_set *ks = keys_parse(line, strlen(line), err, sizeof err);
	CHECKF(ks != NULL, "%s", err);
	key_entry *e = keys_lookup(ks, key, strlen(key));
	CHECK(e && !strcmp(e->name, "carol") && e->role == KEY_ROLE_ADMIN && e->rate == 3 && e->burst == 9);
	CHECK(strstr(line, key) == NULL);   /* the file never holds the key itself */
	keys_free(ks);
}

int main(void)
{
	test_parse();
	test_authorization();
	test_bucket();
	test_addr_limiter();
	test_keygen();
	return t_done();
}
